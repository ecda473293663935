"""Blocking registry calls never outlive their try: waits for a locked database end at the deadline, a call
whose deadline passed (or was cancelled) never commits, and failures name the cause and the file.
Also the registry URL forms users copy (``postgresql+asyncpg://`` from Prefect's settings)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from flows.registry import Deadline, RegistryBusy, RegistryError, RegistryStore
from flows.registry.engines import describe_cause, registry_engine_url

HOLD_SCRIPT = (
    "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); c.execute('BEGIN EXCLUSIVE'); "
    "print('held', flush=True); sys.stdin.read(); c.execute('ROLLBACK')"
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[RegistryStore, Path]]:
    path = tmp_path / "registry.db"
    with RegistryStore(f"sqlite:///{path}") as store:
        store.apply("service", "warm", "upsert", {"schema": "ready"})
        yield store, path


class Holder:
    """Another process holding the registry file with BEGIN EXCLUSIVE until released."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(path)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "held"

    def holding(self) -> bool:
        return self.proc.poll() is None

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture
def holder(db: tuple[RegistryStore, Path]) -> Iterator[Holder]:
    held = Holder(db[1])
    try:
        yield held
    finally:
        held.release()


def test_a_locked_database_fails_at_the_deadline_naming_the_file(db: tuple[RegistryStore, Path], holder: Holder) -> None:
    store, path = db
    with pytest.raises(RegistryBusy) as raised:
        store.apply("service", "billing", "upsert", {"v": 1}, Deadline.after(0.5))
    assert str(raised.value).startswith(f"registry: {path} is locked by another process (waited ")
    assert str(raised.value).endswith("while applying upsert to service/billing; nothing was written")
    assert holder.holding()  # it gave up while the other process still held the file


def test_a_try_cancelled_while_waiting_never_commits_later(db: tuple[RegistryStore, Path], holder: Holder) -> None:
    store, _ = db
    deadline = Deadline.after(60)
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            store.apply("service", "billing", "upsert", {"v": 1}, deadline)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    time.sleep(0.3)  # the write is waiting for the lock
    deadline.cancel()  # what update_registry does when Prefect times the try out
    holder.release()  # the lock is free: the write gets it, then must not commit
    thread.join(timeout=60)
    [error] = outcome
    assert isinstance(error, RegistryBusy) and "nothing was written" in str(error)
    assert store.get("service", "billing") is None


def test_an_expired_deadline_writes_nothing(db: tuple[RegistryStore, Path]) -> None:
    store, _ = db
    expired = Deadline.after(0)
    with pytest.raises(RegistryBusy, match="deadline had passed; nothing was written"):
        store.apply("service", "late", "upsert", {"v": 1}, expired)
    assert store.get("service", "late") is None


def test_without_a_deadline_the_write_waits_and_succeeds(db: tuple[RegistryStore, Path]) -> None:
    store, path = db
    held = Holder(path)
    threading.Timer(0.5, held.release).start()
    record = store.apply("service", "patient", "upsert", {"v": 1})
    assert record.version == 1


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "registry.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with RegistryStore(f"sqlite:///{path}") as store, pytest.raises(RegistryError) as raised:
        store.get("service", "x")
    assert str(raised.value) == f"registry: {path} is not a SQLite database (file is not a database) while reading service/x"


@pytest.mark.parametrize(
    ("driver_error", "expected"),
    [
        ("database or disk is full", "disk full at /r/registry.db"),
        ("attempt to write a readonly database", "/r/registry.db is read-only"),
        ("unable to open database file", "cannot open /r/registry.db (missing folder or no permission)"),
        ("database disk image is malformed", "/r/registry.db is a damaged SQLite database (database disk image is malformed)"),
        ('connection to server at "127.0.0.1", port 5 failed: Connection refused\n\tIs the server running?',
         "cannot connect to /r/registry.db: connection refused"),
        ("something else\nmore", "database error at /r/registry.db: something else"),
    ],
)
def test_driver_errors_read_as_causes(driver_error: str, expected: str) -> None:
    assert describe_cause(driver_error, "/r/registry.db") == expected


# --- AUTOMATIONS_REGISTRY_URL forms ---------------------------------------------------------------------

PG = "postgresql+asyncpg://prefect:pw@db.internal:5432/prefect"


@pytest.mark.parametrize(
    ("url", "installed", "expected"),
    [
        (PG, {"psycopg"}, "postgresql+psycopg://prefect:***@db.internal:5432/prefect"),
        (PG, {"psycopg2"}, "postgresql+psycopg2://prefect:***@db.internal:5432/prefect"),
        ("postgresql://u@h/d", {"psycopg2"}, "postgresql+psycopg2://u@h/d"),
        ("postgresql://u@h/d", {"psycopg"}, "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", {"psycopg"}, "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg2://u@h/d", {"psycopg"}, "error"),
        ("postgresql+pg8000://u@h/d", set(), "postgresql+pg8000://u@h/d"),
        ("sqlite:////tmp/r.db", set(), "sqlite:////tmp/r.db"),
    ],
)
def test_url_forms_map_to_a_synchronous_driver(url: str, installed: set[str], expected: str) -> None:
    if expected == "error":
        with pytest.raises(RegistryError, match=r'psycopg2 is not installed for .*: pip install -e "\.\[postgres\]"'):
            registry_engine_url(make_url(url), available=installed.__contains__)
        return
    mapped = registry_engine_url(make_url(url), available=installed.__contains__)
    assert mapped.render_as_string(hide_password=True) == expected


def test_asyncpg_url_without_a_sync_driver_names_the_fix() -> None:
    with pytest.raises(RegistryError) as raised:
        registry_engine_url(make_url(PG), available=lambda module: False)
    assert str(raised.value) == (
        "registry: postgresql+asyncpg://prefect:***@db.internal:5432/prefect names Prefect's async driver (asyncpg);"
        ' the registry needs a synchronous PostgreSQL driver: pip install -e ".[postgres]" installs psycopg, then'
        " this URL works as it is"
    )


def test_postgresql_url_without_a_driver_names_the_extra() -> None:
    with pytest.raises(RegistryError) as raised:
        registry_engine_url(make_url("postgresql://u:secret@h/d"), available=lambda module: False)
    assert str(raised.value) == 'registry: no PostgreSQL driver for postgresql://u:***@h/d: pip install -e ".[postgres]" installs psycopg'
