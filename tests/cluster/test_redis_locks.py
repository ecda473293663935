"""Idempotency locks on Redis (``AUTOMATIONS_LOCK_URL=redis://…``): Prefect's RedisLockManager with a hold time.

A real redis-server on 127.0.0.1; holders are real processes, one of them killed with SIGKILL.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.exactly_once.locks import lock_manager
from tests.cluster.harness import Redis, start_redis

KEY = "auto-action-0123456789abcdef"


@pytest.fixture(scope="module")
def redis_url(cluster_services: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server: Redis = start_redis(tmp_path_factory.mktemp("redis-locks"))
    try:
        yield server.url
    finally:
        server.stop()


def _key(name: str) -> str:
    return f"{KEY}-{name}-{os.getpid()}-{time.monotonic_ns()}"


def test_a_held_key_is_locked_for_everyone_else(redis_url: str, tmp_path: Path) -> None:
    key = _key("held")
    mine, theirs = lock_manager(redis_url, tmp_path, 60), lock_manager(redis_url, tmp_path, 60)

    assert mine.acquire_lock(key, "run-1")
    assert theirs.is_locked(key)
    assert not theirs.acquire_lock(key, "run-2", acquire_timeout=0.3)
    mine.release_lock(key, "run-1")
    assert theirs.acquire_lock(key, "run-2", acquire_timeout=0.3)


_HOLD_AND_DIE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from flows.exactly_once.locks import lock_manager
    lock_manager(sys.argv[1], Path("."), float(sys.argv[3])).acquire_lock(sys.argv[2], "killed-holder")
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_a_killed_holder_is_taken_over_after_its_hold_time(redis_url: str, tmp_path: Path) -> None:
    key, hold = _key("killed"), 3.0
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_AND_DIE, redis_url, key, str(hold)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    manager = lock_manager(redis_url, tmp_path, 60)

    assert manager.is_locked(key)  # the dead holder's lock outlives it, until its hold time
    assert manager.acquire_lock(key, "next", acquire_timeout=hold + 10)


def _critical_section(url: str, log: str, key: str, worker: int) -> None:
    manager = lock_manager(url, Path("."), 30)
    for n in range(10):
        holder = f"worker-{worker}-{n}"
        manager.acquire_lock(key, holder)
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"enter {worker}\n")
            handle.flush()
            time.sleep(0.002)
            handle.write(f"leave {worker}\n")
        manager.release_lock(key, holder)


def test_processes_take_turns(redis_url: str, tmp_path: Path) -> None:
    log, key = tmp_path / "log.txt", _key("turns")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_critical_section, args=(redis_url, str(log), key, n)) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    lines = log.read_text().splitlines()
    assert len(lines) == 3 * 10 * 2
    pairs = list(zip(lines[::2], lines[1::2], strict=True))
    assert all(enter.split()[0] == "enter" and leave == f"leave {enter.split()[1]}" for enter, leave in pairs)


def test_releasing_an_expired_lock_does_not_fail(redis_url: str, tmp_path: Path) -> None:
    key = _key("expired")
    manager = lock_manager(redis_url, tmp_path, 1)
    manager.acquire_lock(key, "slow-run")
    time.sleep(1.5)
    lock_manager(redis_url, tmp_path, 60).acquire_lock(key, "taker", acquire_timeout=1)

    manager.release_lock(key, "slow-run")  # logged, not raised: the slow run's result is stored all the same


def test_an_async_acquire_is_released_by_the_sync_release(redis_url: str, tmp_path: Path) -> None:
    """Prefect's async engine pairs aacquire_lock with the sync release_lock (prefect-redis left the key locked)."""
    import asyncio

    key = _key("async-acquire")
    manager = lock_manager(redis_url, tmp_path, 60)
    assert asyncio.run(manager.aacquire_lock(key, "run-1"))
    manager.release_lock(key, "run-1")

    assert not lock_manager(redis_url, tmp_path, 60).is_locked(key)
