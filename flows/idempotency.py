"""Idempotency: a key per action and occurrence, Prefect cache policy on it, and locks that expire."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.locking.filesystem import FileSystemLockManager
from prefect.transactions import IsolationLevel

from flows.processes import pid_alive

__all__ = ["action_key", "IdempotencyKeyPolicy", "ExpiringFileLockManager", "policy_for"]


def action_key(automation: str, action_name: str, action_type: str, parameters: Any, occurrence: str) -> str:
    """A stable digest of everything that makes two executions "the same" (never contains secret values)."""
    material = json.dumps(
        {"a": automation, "n": action_name, "t": action_type, "p": parameters, "o": occurrence},
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return f"{automation}-{action_name}-{hashlib.sha256(material.encode()).hexdigest()[:32]}"


@dataclass
class IdempotencyKeyPolicy(CachePolicy):
    """The key is computed by the engine and passed to the task as its ``cache_key`` argument."""

    def compute_key(
        self,
        task_ctx: Any,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        key = inputs.get("cache_key")
        return str(key) if key else None


class ExpiringFileLockManager(FileSystemLockManager):
    """Prefect's file locks, plus recovery: a lock whose holder process is gone, or that outlived
    ``hold_seconds``, is taken over (Prefect's own never expires, so a ``kill -9`` blocks the key forever)."""

    def __init__(self, lock_files_directory: Path, hold_seconds: float) -> None:
        super().__init__(lock_files_directory)
        self.hold_seconds = hold_seconds

    def _owner_path(self, key: str) -> Path:
        return self._lock_path_for_key(key).with_suffix(".owner")

    def _holder_is_dead(self, key: str) -> bool:
        try:
            owner = json.loads(self._owner_path(key).read_text())
        except (OSError, ValueError):
            return False
        if owner.get("host") != socket.gethostname():
            return False  # cannot see other hosts' processes; expiry still applies there
        try:
            return not pid_alive(int(owner["pid"]))
        except (ValueError, KeyError):
            return False

    def is_locked(self, key: str, use_cache: bool = False) -> bool:
        locked = super().is_locked(key, use_cache=use_cache)
        if locked and self._holder_is_dead(key):
            self._lock_path_for_key(key).unlink(missing_ok=True)
            self._owner_path(key).unlink(missing_ok=True)
            self._locks.pop(key, None)
            return False
        return locked

    def _write_owner(self, key: str) -> None:
        self._owner_path(key).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
        acquired = super().acquire_lock(key, holder, acquire_timeout, hold_timeout or self.hold_seconds)
        if acquired:
            self._write_owner(key)
        return acquired

    async def aacquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
        acquired = await super().aacquire_lock(key, holder, acquire_timeout, hold_timeout or self.hold_seconds)
        if acquired:
            self._write_owner(key)
        return acquired

    def release_lock(self, key: str, holder: str) -> None:
        super().release_lock(key, holder)
        self._owner_path(key).unlink(missing_ok=True)


def policy_for(storage_dir: Path, hold_seconds: float) -> CachePolicy:
    """Serializable isolation: two runs of one occurrence execute the action once; the other reads the result."""
    return IdempotencyKeyPolicy().configure(
        key_storage=storage_dir,
        lock_manager=ExpiringFileLockManager(storage_dir / "locks", hold_seconds),
        isolation_level=IsolationLevel.SERIALIZABLE,
    )
