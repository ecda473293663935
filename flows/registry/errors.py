"""The registry's errors: one base type callers catch, and the cases they tell apart."""

from __future__ import annotations

__all__ = ["EntityExists", "EntityNotFound", "RegistryBusy", "RegistryError"]


class RegistryError(Exception):
    """Any registry failure: invalid input, missing or duplicate entity, or a database error."""


class EntityExists(RegistryError):
    """``create`` was asked for an entity that is already stored."""


class EntityNotFound(RegistryError):
    """``update``, ``merge`` or ``delete`` was asked for an entity that is not stored."""


class RegistryBusy(RegistryError):
    """The database stayed locked by another writer until the deadline, or the deadline passed before the
    commit: nothing was written, and trying again later may succeed."""
