"""The registry's tables (entities, notifications, artifacts, metrics) and the record of one entity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Column, Index, Integer, MetaData, String, Table, Text

__all__ = ["MAX_NAME_CHARS", "EntityRecord", "artifacts_table", "entities", "metadata", "metrics_table", "notifications_table"]

MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class EntityRecord:
    """One stored entity; timestamps are timezone-aware UTC ISO-8601 strings."""

    entity_type: str
    entity_id: str
    data: dict[str, Any]
    version: int
    created_at: str
    updated_at: str


metadata = MetaData()

# Identifier columns are VARCHAR(200) rather than TEXT so they stay indexable on every backend;
# the same limit is enforced in Python with a readable error.
entities = Table(
    "entities",
    metadata,
    Column("entity_type", String(MAX_NAME_CHARS), primary_key=True),
    Column("entity_id", String(MAX_NAME_CHARS), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# sqlite_autoincrement keeps ids strictly increasing even if rows are pruned, so "highest id" stays "newest".
notifications_table = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("automation", String(MAX_NAME_CHARS), nullable=False),
    Column("level", String(MAX_NAME_CHARS), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", JSON(none_as_null=True), nullable=True),
    Column("created_at", String(32), nullable=False),
    Index("ix_notifications_automation_id", "automation", "id"),
    sqlite_autoincrement=True,
)

artifacts_table = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("automation", String(MAX_NAME_CHARS), nullable=False),
    Column("artifact_type", String(MAX_NAME_CHARS), nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_artifacts_automation_id", "automation", "id"),
    sqlite_autoincrement=True,
)

metrics_table = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(MAX_NAME_CHARS), nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)
