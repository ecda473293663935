"""New local servers' SQLite databases start from the snapshot of Prefect's migrations (flows/local_server/schema_snapshot.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from flows.local_server.process import new_sqlite_database
from flows.local_server.schema_snapshot import (
    block_registry,
    describe_database,
    installed_prefect_version,
    new_server_database,
    seed_database,
    snapshot_has_these_blocks,
    snapshot_path,
)
from flows.local_server.server import start_server, stop_local_server
from tests import ROOT


def _revision(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_the_installed_prefect_has_a_snapshot() -> None:
    # Fails after a Prefect upgrade: every first server start would replay the migrations again (~9 s).
    assert snapshot_path().is_file(), (
        f"no schema snapshot for Prefect {installed_prefect_version()}: run `python -m flows.local_server.schema_snapshot`"
    )


def test_a_seeded_database_is_the_one_a_new_server_creates(tmp_path: Path) -> None:
    # Tables, indexes, the migration revision and the registered block types (ids and timestamps aside).
    seeded, fresh = tmp_path / "seeded.db", tmp_path / "fresh.db"
    assert seed_database(seeded)
    new_server_database(fresh)
    assert describe_database(seeded) == describe_database(fresh)


def test_the_snapshot_was_made_with_this_environments_collections() -> None:
    assert snapshot_has_these_blocks(), f"{snapshot_path()} was made with other collections than {block_registry()}"


@pytest.mark.parametrize(
    ("header", "trusted"),
    [
        ("-- block registry: {current}", True),
        ("-- block registry: prefect==0.0.1", False),
        ("-- block registry: {current}, prefect-aws==1.0.0", False),
        ("-- no registry line", False),
    ],
    ids=["same collections", "other prefect", "one more collection", "no header"],
)
def test_seeded_block_types_are_trusted_only_with_the_same_collections(tmp_path: Path, header: str, trusted: bool) -> None:
    snapshot = tmp_path / "snapshot.sql"
    snapshot.write_text(f"-- a snapshot\n{header.format(current=block_registry())}\nBEGIN TRANSACTION;\nCOMMIT;\n", encoding="utf-8")
    assert snapshot_has_these_blocks(snapshot) is trusted


def test_an_existing_database_is_never_touched(tmp_path: Path) -> None:
    database = tmp_path / "prefect.db"
    database.write_bytes(b"a server's data")
    assert not seed_database(database)
    assert database.read_bytes() == b"a server's data"


def test_without_a_snapshot_nothing_is_written(tmp_path: Path) -> None:
    assert not seed_database(tmp_path / "prefect.db", snapshot=tmp_path / "prefect-0.0.0-sqlite.sql")
    assert list(tmp_path.iterdir()) == []


def test_a_broken_snapshot_leaves_no_database_and_no_partial_file(tmp_path: Path) -> None:
    snapshot = tmp_path / "broken.sql"
    snapshot.write_text("CREATE TABLE one (id INTEGER);\nTHIS IS NOT SQL;\n", encoding="utf-8")
    folder = tmp_path / "server"
    with pytest.raises(sqlite3.Error):
        seed_database(folder / "prefect.db", snapshot=snapshot)
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///{tmp}/new.db", "{tmp}/new.db"),
        ("sqlite+aiosqlite:///{tmp}/existing.db", None),
        ("sqlite+aiosqlite:///:memory:", None),
        ("sqlite+aiosqlite://", None),
        ("postgresql+asyncpg://prefect:secret@127.0.0.1:5432/prefect", None),
    ],
    ids=["new file", "existing file", "in memory", "no file", "postgresql"],
)
def test_which_database_the_server_process_seeds(tmp_path: Path, url: str, expected: str | None) -> None:
    (tmp_path / "existing.db").write_bytes(b"")
    found = new_sqlite_database(url.format(tmp=tmp_path))
    assert found == (Path(expected.format(tmp=tmp_path)) if expected else None)


def test_the_server_process_seeds_the_database_prefect_would_use_before_starting(tmp_path: Path) -> None:
    # An invalid port: Prefect's `server start` refuses it after the seeding, so no server runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({"PREFECT_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    done = subprocess.run(
        [sys.executable, "-m", "flows.local_server.process", "--port", "not-a-port"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )
    assert done.returncode != 0
    database = tmp_path / "prefect.db"
    assert database.is_file(), done.stdout + done.stderr
    assert _revision(database) in snapshot_path().read_text(encoding="utf-8")


def _block_types_updated(database: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(database) as connection:
        return set(connection.execute("SELECT slug, updated FROM block_type"))


def test_a_server_on_a_seeded_database_keeps_the_seeded_block_types(tmp_path: Path) -> None:
    # Registering them again would rewrite every block type (its `updated` time): the start skips that.
    seeded = tmp_path / "seeded.db"
    seed_database(seeded)
    home = tmp_path / "server"
    start_server(home, timeout=300, ui=False)
    try:
        assert _block_types_updated(home / "prefect.db") == _block_types_updated(seeded)
        assert (home / "memo_store.toml").is_file()  # Prefect's own record: later starts skip it as well
    finally:
        stop_local_server(home)
