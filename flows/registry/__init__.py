"""Platform God registry: entities, notifications, artifacts and metrics documents behind SQLAlchemy Core."""

from __future__ import annotations

from flows.registry.store import (
    EntityExists,
    EntityNotFound,
    EntityRecord,
    Operation,
    RegistryError,
    RegistryStore,
)

__all__ = [
    "EntityExists",
    "EntityNotFound",
    "EntityRecord",
    "Operation",
    "RegistryError",
    "RegistryStore",
]
