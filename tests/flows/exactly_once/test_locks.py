"""Idempotency file locks: mutual exclusion between threads and processes, dead holders, garbage files."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flows.exactly_once.locks import FileLockManager, LockSettingError, lock_manager

KEY = "auto-action-0123456789abcdef"


def test_a_held_key_is_locked_for_everyone_else(tmp_path: Path) -> None:
    mine, theirs = FileLockManager(tmp_path), FileLockManager(tmp_path)

    assert mine.acquire_lock(KEY, "run-1")
    assert theirs.is_locked(KEY)
    assert not theirs.acquire_lock(KEY, "run-2", acquire_timeout=0.2)
    mine.release_lock(KEY, "run-1")
    assert not theirs.is_locked(KEY)
    assert theirs.acquire_lock(KEY, "run-2", acquire_timeout=0.2)


def test_the_holder_reacquires_without_waiting(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path)

    assert manager.acquire_lock(KEY, "run-1")
    assert manager.acquire_lock(KEY, "run-1", acquire_timeout=0)
    assert manager.is_lock_holder(KEY, "run-1") and not manager.is_lock_holder(KEY, "run-2")


def test_release_by_another_holder_is_refused(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path)
    manager.acquire_lock(KEY, "run-1")

    with pytest.raises(ValueError, match="No lock held by run-2"):
        manager.release_lock(KEY, "run-2")


def test_release_leaves_no_file(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path)
    manager.acquire_lock(KEY, "run-1")
    manager.release_lock(KEY, "run-1")

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"\x00\xff garbage", b'{"holder": "x", "expiration": "not a date"}', b'{"holder": "x", "expiration": "2999-01-01T00:00:00+00:00"}'],
    ids=["empty", "truncated-json", "binary", "bad-expiration", "far-future-expiration"],
)
def test_a_lock_file_nobody_holds_never_blocks_or_fails(tmp_path: Path, content: bytes) -> None:
    manager = FileLockManager(tmp_path)
    manager.path_for(KEY).write_bytes(content)

    assert not manager.is_locked(KEY)
    assert manager.acquire_lock(KEY, "run-1", acquire_timeout=0.5)


_HOLD_AND_WAIT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from flows.exactly_once.locks import FileLockManager
    FileLockManager(Path(sys.argv[1])).acquire_lock(sys.argv[2], "killed-holder")
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_a_killed_holder_releases_at_once(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_AND_WAIT, str(tmp_path), KEY], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        manager = FileLockManager(tmp_path)
        locked_while_alive = manager.is_locked(KEY)
        described = manager.describe(KEY)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()

    assert locked_while_alive
    assert f"held by pid {proc.pid}" in described and str(manager.path_for(KEY)) in described
    assert manager.acquire_lock(KEY, "next", acquire_timeout=1)


def _critical_section(directory: str, log: str, worker: int) -> None:
    manager = FileLockManager(Path(directory))
    for _ in range(20):
        holder = f"worker-{worker}"
        manager.acquire_lock(KEY, holder)
        with open(log, "a", encoding="utf-8") as handle:  # O_APPEND: lines never interleave
            handle.write(f"enter {worker}\n")
            handle.flush()
            time.sleep(0.001)
            handle.write(f"leave {worker}\n")
        manager.release_lock(KEY, holder)


def test_processes_take_turns_even_while_files_are_unlinked_and_recreated(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    locks = tmp_path / "locks"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_critical_section, args=(str(locks), str(log), n)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    lines = log.read_text().splitlines()
    assert len(lines) == 4 * 20 * 2
    pairs = list(zip(lines[::2], lines[1::2], strict=True))
    assert all(enter.split()[0] == "enter" and leave == f"leave {enter.split()[1]}" for enter, leave in pairs)


def test_async_acquire_waits_for_the_release(tmp_path: Path) -> None:
    first, second = FileLockManager(tmp_path), FileLockManager(tmp_path)
    first.acquire_lock(KEY, "run-1")

    async def scenario() -> tuple[bool, bool]:
        waiter = asyncio.create_task(second.aacquire_lock(KEY, "run-2", acquire_timeout=10))
        await asyncio.sleep(0.2)
        blocked = not waiter.done()
        first.release_lock(KEY, "run-1")
        return blocked, await waiter

    assert asyncio.run(scenario()) == (True, True)


@pytest.mark.parametrize(
    ("url", "expected"),
    [(None, FileLockManager), ("file", FileLockManager)],
)
def test_the_setting_selects_the_file_backend(tmp_path: Path, url: str | None, expected: type) -> None:
    assert isinstance(lock_manager(url, tmp_path, 60), expected)


def test_an_unknown_lock_url_is_refused_with_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(LockSettingError, match="must be unset, 'file' or a Redis URL"):
        lock_manager("postgresql://db/locks", tmp_path, 60)
