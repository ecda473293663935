"""Idempotency: a key per action and occurrence, Prefect cache policy on it, and locks that expire."""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import pydantic_core
from prefect.cache_policies import CachePolicy
from prefect.filesystems import LocalFileSystem
from prefect.locking.filesystem import FileSystemLockManager
from prefect.transactions import IsolationLevel
from prefect.types._datetime import now

from flows.processes import pid_alive

__all__ = ["action_key", "IdempotencyKeyPolicy", "ExpiringFileLockManager", "InlineLocalFileSystem", "policy_for", "result_storage"]


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
        # Keys this manager locked and has not released: their holder is this (living) process, so
        # the owner file and PID need no checking (Prefect asks is_locked ~6 times per task run).
        self._held: set[str] = set()

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
        if key in self._held:
            # Our own lock: its state is in memory (Prefect re-reads the file on each of its ~6 checks
            # per task run). Only an expired one goes to Prefect's check, which also removes it.
            info = self._locks.get(key)
            expiration = info.get("expiration") if info is not None else None
            if info is not None and (expiration is None or expiration >= now("UTC")):
                return True
        locked = super().is_locked(key, use_cache=use_cache)
        if locked and key not in self._held and self._holder_is_dead(key):
            self._lock_path_for_key(key).unlink(missing_ok=True)
            self._owner_path(key).unlink(missing_ok=True)
            self._locks.pop(key, None)
            return False
        return locked

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
        acquired = super().acquire_lock(key, holder, acquire_timeout, hold_timeout or self.hold_seconds)
        if acquired:
            self._write_owner(key)
        return acquired

    async def aacquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
        hold = hold_timeout or self.hold_seconds
        if self._acquire_free_lock(key, holder, hold):
            return True
        acquired = await super().aacquire_lock(key, holder, acquire_timeout, hold)
        if acquired:
            self._write_owner(key)
        return acquired

    def _acquire_free_lock(self, key: str, holder: str, hold_seconds: float) -> bool:
        """The uncontended case of Prefect's acquire, inline: no lock file yet, so create it (exclusively).

        Prefect's async acquire hops to a worker thread for each of its five small file operations,
        which cost more than the operations (measured: most of an action's idempotency overhead).
        When the file exists (held, expired, or left by a dead process) Prefect's own path decides.
        """
        lock_path = self._lock_path_for_key(key)
        try:
            lock_path.touch(exist_ok=False)
        except FileNotFoundError:
            self._ensure_lock_files_directory_exists()
            return self._acquire_free_lock(key, holder, hold_seconds)
        except FileExistsError:
            return False
        expiration = now("UTC") + timedelta(seconds=hold_seconds)
        lock_path.write_bytes(pydantic_core.to_json({"holder": holder, "expiration": str(expiration)}))
        self._locks[key] = {"holder": holder, "expiration": expiration, "path": lock_path}
        self._write_owner(key)
        return True

    def _write_owner(self, key: str) -> None:
        self._owner_path(key).write_bytes(_owner_bytes(os.getpid()))
        self._held.add(key)

    def release_lock(self, key: str, holder: str) -> None:
        super().release_lock(key, holder)
        self._held.discard(key)
        self._owner_path(key).unlink(missing_ok=True)


@lru_cache(maxsize=4)
def _owner_bytes(pid: int) -> bytes:
    return json.dumps({"pid": pid, "host": socket.gethostname()}).encode()


class InlineLocalFileSystem(LocalFileSystem):
    """Prefect's local result storage, with the small reads and writes done inline.

    ``LocalFileSystem``'s async methods hop to a worker thread for the open, the write and the close of
    every result and cache record, and resolve the base folder on every call; for files of a few hundred
    bytes that cost more than the I/O (measured ~1 ms per action on 2 busy cores). Same files, same paths.
    """

    _block_type_name = "Inline Local File System"
    _block_type_slug = "platform-god-inline-local-file-system"

    def _resolve_path(self, path: str) -> Path:
        base = _resolved_base(self.basepath)
        if path is None:
            return base
        if path and "/" not in path and path not in (".", "..") and not path.startswith("~"):
            # A plain file name in the (resolved) base folder: it resolves to itself unless it is a
            # symlink; one lstat instead of one per folder of the path.
            candidate = base / path
            if not candidate.is_symlink():
                return candidate
        resolved = Path(path).expanduser()
        if not resolved.is_absolute():
            resolved = base / resolved
        resolved = resolved.resolve()
        if base not in resolved.parents and base != resolved:
            raise ValueError(f"Provided path {resolved} is outside of the base path {base}.")
        return resolved

    async def awrite_path(self, path: str, content: bytes) -> str:
        target = self._resolve_path(path)
        target.parent.mkdir(exist_ok=True, parents=True)
        if target.exists() and not target.is_file():
            raise ValueError(f"Path {target} already exists and is not a file.")
        target.write_bytes(content)
        return str(target)

    async def aread_path(self, path: str) -> bytes:
        target = self._resolve_path(path)
        if not target.exists():
            raise ValueError(f"Path {target} does not exist.")
        if not target.is_file():
            raise ValueError(f"Path {target} is not a file.")
        return target.read_bytes()


@lru_cache(maxsize=64)
def _resolved_base(basepath: str | None) -> Path:
    return Path(basepath).expanduser().resolve() if basepath else Path(".").resolve()


def result_storage(folder: Path) -> InlineLocalFileSystem:
    return InlineLocalFileSystem(basepath=str(folder))


def policy_for(key_dir: Path | None, lock_dir: Path, hold_seconds: float) -> CachePolicy:
    """Serializable isolation: two runs of one occurrence execute the action once; the other reads the result.

    ``key_dir`` None keeps cache records inside the task's result storage (a shared storage block).
    """
    return IdempotencyKeyPolicy().configure(
        key_storage=result_storage(key_dir) if key_dir is not None else None,
        lock_manager=ExpiringFileLockManager(lock_dir, hold_seconds),
        isolation_level=IsolationLevel.SERIALIZABLE,
    )
