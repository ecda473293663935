"""Idempotency locks behind Prefect's ``LockManager`` protocol: kernel file locks on one machine, Redis across machines.

Prefect runs an action with ``isolation_level=SERIALIZABLE``: it takes the key's lock, looks for a stored
result, executes only when there is none, stores the result and releases the lock. Whoever waits on the
lock then finds the result (state ``Cached``). The lock manager decides what "exactly once" means:

- ``FileLockManager`` (default, one machine): ``flock(2)`` on one file per key. The kernel releases a
  lock the moment its process dies, so a ``kill -9``'d holder never blocks a key, and the file's
  content (who holds it, for people reading the folder) is never parsed to decide anything: a garbage or
  half-written lock file cannot fail or block a run. Prefect's ``FileSystemLockManager`` creates the file
  empty and writes it in a second step (a concurrent reader fails on the empty file) and never expires
  a dead holder's lock.
- ``HoldingRedisLockManager`` (``AUTOMATIONS_LOCK_URL=redis://…``, several machines): Prefect's own
  ``RedisLockManager`` (package ``prefect-redis``), with every lock given the action's hold time as its
  Redis TTL: Prefect passes no hold time, so a dead holder's lock would otherwise never expire.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.locking.protocol import LockManager

from compiler.language.settings import REDIS_SCHEMES
from flows.prefect_api.seam import release_redis_lock_acquired_async
from flows.retry_loop import Rule, aretry, retry

__all__ = ["REDIS_SCHEMES", "FileLockManager", "LockSettingError", "lock_manager"]

log = logging.getLogger("platform_god.locks")

_POLL_SECONDS = 0.05
# A waiter says once which file it waits on and who holds it, so a stuck key is easy to find.
_REPORT_WAIT_AFTER_SECONDS = 5.0
_SAFE_KEY = re.compile(r"[A-Za-z0-9_.-]{1,200}")


class LockSettingError(ValueError):
    """``AUTOMATIONS_LOCK_URL`` names no supported lock backend, or its package is not installed."""


@dataclass
class _Held:
    fd: int
    holder: str
    path: Path


class FileLockManager(LockManager):
    """One ``flock``-ed file per key under ``directory``; safe between threads, tasks and processes of one machine."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self._held: dict[str, _Held] = {}
        self._mutex = threading.Lock()

    # ------------------------------------------------------------------ files

    def path_for(self, key: str) -> Path:
        name = key if _SAFE_KEY.fullmatch(key) and key not in (".", "..") else hashlib.sha256(key.encode()).hexdigest()
        return self.directory / f"{name}.lock"

    def _open(self, path: Path, create: bool) -> int | None:
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        try:
            return os.open(path, flags, 0o644)
        except FileNotFoundError:
            if not create:
                return None
            self.directory.mkdir(parents=True, exist_ok=True)
            return os.open(path, flags, 0o644)

    def _try_lock(self, key: str, holder: str) -> bool:
        path = self.path_for(key)
        while True:
            fd = self._open(path, create=True)
            assert fd is not None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return False
                raise
            # The previous holder unlinks the file before it unlocks; a lock won on such an orphaned
            # inode guards nothing, so start again on the file now at the path.
            try:
                current = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            opened = os.fstat(fd)
            if current != opened.st_ino:
                os.close(fd)
                continue
            owner = _owner_bytes(holder)
            os.pwrite(fd, owner, 0)
            if opened.st_size > len(owner):
                # Only when a longer old file was there: ext4 flushes a file truncated to zero when it is
                # closed (~5 ms per lock, measured with benchmarks/p10_locks.py), so never truncate to zero.
                os.ftruncate(fd, len(owner))
            with self._mutex:
                self._held[key] = _Held(fd, holder, path)
            return True

    def describe(self, key: str) -> str:
        """The lock file and, when it says so, who holds it (for messages; never used to decide)."""
        path = self.path_for(key)
        try:
            owner = json.loads(path.read_bytes())
            return f"{path} (held by pid {owner['pid']} on {owner['host']})"
        except (OSError, ValueError, KeyError, TypeError):
            return str(path)

    # ------------------------------------------------------------------ LockManager protocol

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
        if self.is_lock_holder(key, holder):
            return True
        return retry(lambda: self._try_lock(key, holder), self._polling(acquire_timeout, waiting_for=key))

    async def aacquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
        if self.is_lock_holder(key, holder):
            return True

        async def attempt() -> bool:
            return self._try_lock(key, holder)  # never blocks: a waiter polls, sleeping between tries

        return await aretry(attempt, self._polling(acquire_timeout, waiting_for=key))

    def _polling(self, timeout: float | None, waiting_for: str | None = None) -> Rule[bool]:
        """Try again every _POLL_SECONDS until a try succeeds (True) or ``timeout``, counted from now, has passed
        (False); with ``waiting_for`` (a key), say once after a while whose lock is waited for."""
        started = time.monotonic()

        def rule(done: bool) -> Generator[float, bool, bool]:
            reported = waiting_for is None
            while not done:
                waited = time.monotonic() - started
                if timeout is not None and waited >= timeout:
                    return False
                if not reported and waiting_for is not None:
                    reported = self._report_wait(waiting_for, waited)
                done = yield _POLL_SECONDS
            return True

        return rule

    def release_lock(self, key: str, holder: str) -> None:
        with self._mutex:
            held = self._held.get(key)
            if held is None or held.holder != holder:
                raise ValueError(f"No lock held by {holder} for transaction with key {key}")
            del self._held[key]
        # Unlink while still locked: a waiter that opened the old file sees it is gone and retries.
        try:
            held.path.unlink(missing_ok=True)
        finally:
            os.close(held.fd)

    def is_locked(self, key: str) -> bool:
        if key in self._held:
            return True
        fd = self._open(self.path_for(key), create=False)
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return True
            raise
        finally:
            os.close(fd)  # closing drops the probe's own shared lock
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        held = self._held.get(key)
        return held is not None and held.holder == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return retry(lambda: not self.is_locked(key), self._polling(timeout))

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        async def attempt() -> bool:
            return not self.is_locked(key)  # a non-blocking probe: the waits between probes leave the loop free

        return await aretry(attempt, self._polling(timeout))

    def _report_wait(self, key: str, waited: float) -> bool:
        if waited < _REPORT_WAIT_AFTER_SECONDS:
            return False
        log.info("waiting for idempotency lock %s: another run of the same occurrence is executing this action", self.describe(key))
        return True


def _owner_bytes(holder: str) -> bytes:
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "holder": holder}).encode()


def _redis_manager(url: str, hold_seconds: float) -> LockManager:
    try:
        # deferred: prefect-redis is optional (extra `cluster`, ~140 ms with redis, measured): only AUTOMATIONS_LOCK_URL=redis://… needs it
        from prefect_redis.locking import RedisLockManager
    except ImportError:
        raise LockSettingError(
            "AUTOMATIONS_LOCK_URL is a Redis URL but prefect-redis is not installed: pip install -e \".[cluster]\""
        ) from None

    class HoldingRedisLockManager(RedisLockManager):
        """Prefect's Redis locks with the action's hold time as every lock's TTL (Prefect passes none)."""

        def __init__(self, connection_url: str, hold_seconds: float) -> None:
            super().__init__(connection_url=connection_url)
            self.hold_seconds = hold_seconds

        def __getstate__(self) -> dict[str, Any]:
            return {**super().__getstate__(), "hold_seconds": self.hold_seconds}

        def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
            return bool(super().acquire_lock(key, holder, acquire_timeout, hold_timeout or self.hold_seconds))

        async def aacquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None, hold_timeout: float | None = None) -> bool:
            return bool(await super().aacquire_lock(key, holder, acquire_timeout, hold_timeout or self.hold_seconds))

        def release_lock(self, key: str, holder: str) -> None:
            # deferred: redis costs ~140 ms (measured) and only Redis locks use it; importers that never call this function do not pay for it
            from redis.exceptions import LockError


            try:
                # A lock the async engine acquired is released through the sync client (prefect-redis 0.3
                # would leave it locked until its TTL; see the seam), any other by prefect-redis itself.
                if not release_redis_lock_acquired_async(self, key, holder):
                    super().release_lock(key, holder)
            except (LockError, ValueError) as exc:
                # Held past its hold time and taken over: the action's result is stored all the same.
                log.warning("idempotency lock %s expired before it was released: %s", key, exc)

    return HoldingRedisLockManager(url, hold_seconds)


def lock_manager(lock_url: str | None, lock_dir: Path, hold_seconds: float) -> LockManager:
    """The lock backend ``AUTOMATIONS_LOCK_URL`` selects: unset or ``file`` → this machine's files, ``redis://…`` → Redis."""
    if not lock_url or lock_url == "file":
        return FileLockManager(lock_dir)
    if lock_url.startswith(REDIS_SCHEMES):
        return _redis_manager(lock_url, hold_seconds)
    raise LockSettingError(
        f"AUTOMATIONS_LOCK_URL must be unset, 'file' or a Redis URL ({', '.join(REDIS_SCHEMES)}…), got {lock_url.split('://')[0]}://…"
    )
