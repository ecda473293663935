"""Platform God registry: entities, notifications, artifacts and metrics documents behind SQLAlchemy Core.

``store`` is the API; ``schema`` its tables, ``engines`` how databases are opened (SQLite WAL, PostgreSQL),
``documents`` what it accepts, ``deadline`` and ``errors`` what callers pass and catch.
"""

from __future__ import annotations

from flows.registry.deadline import Deadline
from flows.registry.errors import EntityExists, EntityNotFound, RegistryBusy, RegistryError
from flows.registry.schema import EntityRecord
from flows.registry.store import Operation, RegistryStore

__all__ = [
    "Deadline",
    "EntityExists",
    "EntityNotFound",
    "EntityRecord",
    "Operation",
    "RegistryBusy",
    "RegistryError",
    "RegistryStore",
]
