"""A new SQLite database for a local Prefect server starts from a snapshot of Prefect's migrated schema.

Why: Prefect creates a server's database by replaying its ~120 Alembic migrations one by one, which took
8.7–12 s of every first server start here (benchmark P4: the first `run` on a fresh checkout took 20.8 s, of
which ~17.7 s waiting for the server to answer). The result of those migrations is the same for every
database of one Prefect release, so it is kept as SQL text (`schema_snapshots/prefect-<version>-sqlite.sql`,
what ``sqlite3``'s ``iterdump`` prints of a database that `prefect server database upgrade` created; its
text differs between regenerations in the order of table constraints only) and a
new database is created from it in ~0.1 s. Prefect still checks the migrations when the server starts (its
default): with the snapshot's revision at head, that check does nothing.

A Prefect release without a snapshot replays its migrations as before (slower, never wrong);
``tests/flows/test_schema_snapshot.py`` fails until one is written for the installed release:

    python -m flows.schema_snapshot            # write the snapshot of the installed Prefect
    python -m flows.schema_snapshot --check    # exit 1 when it differs from a fresh migration
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "SNAPSHOT_DIR",
    "describe_database",
    "dump_database",
    "migrate_new_database",
    "migrated_schema",
    "seed_database",
    "snapshot_matches_migrations",
    "snapshot_path",
]

SNAPSHOT_DIR = Path(__file__).with_name("schema_snapshots")
_MIGRATE_TIMEOUT_SECONDS = 600.0  # ~13 s here; a loaded 2-core machine is several times slower


def installed_prefect_version() -> str:
    return importlib.metadata.version("prefect")


def snapshot_path(prefect_version: str | None = None) -> Path:
    return SNAPSHOT_DIR / f"prefect-{prefect_version or installed_prefect_version()}-sqlite.sql"


def seed_database(database: Path, snapshot: Path | None = None) -> bool:
    """Create ``database`` from ``snapshot`` (by default the installed Prefect's).

    False, and nothing written, when the file exists (a server's data is never touched) or there is no
    snapshot. The database is built in a temporary file beside it and linked into place, so a
    failure or a crash never leaves a half-built database, and a file that appeared meanwhile is kept.
    """
    snapshot = snapshot or snapshot_path()
    if database.exists() or not snapshot.is_file():
        return False
    database.parent.mkdir(parents=True, exist_ok=True)
    partial = database.with_name(f".{database.name}.{os.getpid()}.seeding")
    try:
        partial.unlink(missing_ok=True)
        with contextlib.closing(sqlite3.connect(partial)) as connection:
            connection.executescript(snapshot.read_text(encoding="utf-8"))
        os.link(partial, database)  # fails when the database exists by now: it is then left as it is
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True


def dump_database(database: Path) -> str:
    """The database as SQL text (schema and rows, in ``iterdump``'s stable order)."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return "\n".join(connection.iterdump()) + "\n"


def describe_database(database: Path) -> dict[str, object]:
    """What makes two databases the same for Prefect: every table's columns in order, every schema object's
    definition, every row. A definition is compared as its set of lines: Alembic rebuilds a table with its
    constraints in set order, which differs from one Python process to the next."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        objects = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        described: dict[str, object] = {}
        for kind, name, table, sql in objects:
            lines = sorted(line.strip().rstrip(",").strip() for line in (sql or "").splitlines())
            described[f"{kind} {name}"] = (table, lines)
            if kind == "table":
                described[f"columns {name}"] = connection.execute(f'PRAGMA table_xinfo("{name}")').fetchall()
                described[f"rows {name}"] = sorted(map(repr, connection.execute(f'SELECT * FROM "{name}"')))
        return described


def migrate_new_database(database: Path) -> None:
    """Let Prefect create ``database`` with its migrations (`prefect server database upgrade`, in a temporary
    PREFECT_HOME and with no other Prefect setting of this environment)."""
    with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as home:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
        env.update({"PREFECT_HOME": home, "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}"})
        done = subprocess.run(
            [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"],
            env=env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=_MIGRATE_TIMEOUT_SECONDS,
        )
    if done.returncode != 0:
        raise RuntimeError(f"`prefect server database upgrade` failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def migrated_schema(prefect_version: str | None = None) -> str:
    """The snapshot text for the installed Prefect: a new database created by its migrations, dumped."""
    version = prefect_version or installed_prefect_version()
    with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as folder:
        database = Path(folder) / "prefect.db"
        migrate_new_database(database)
        header = (
            f"-- The SQLite schema Prefect {version}'s migrations create (`prefect server database upgrade`).\n"
            "-- Written by `python -m flows.schema_snapshot`; new local servers' databases start from it.\n"
        )
        return header + dump_database(database)


def snapshot_matches_migrations() -> bool:
    """True when a database seeded from the installed Prefect's snapshot is the one its migrations create."""
    with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as folder:
        seeded, migrated = Path(folder) / "seeded.db", Path(folder) / "migrated.db"
        if not seed_database(seeded):
            return False
        migrate_new_database(migrated)
        return describe_database(seeded) == describe_database(migrated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.schema_snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with a fresh migration instead of writing")
    args = parser.parse_args(argv)
    path = snapshot_path()
    if args.check:
        if snapshot_matches_migrations():
            print(f"{path}: matches Prefect {installed_prefect_version()}'s migrations")
            return 0
        print(f"{path}: {'differs from' if path.is_file() else 'missing; write it from'} a fresh migration: python -m flows.schema_snapshot")
        return 1
    fresh = migrated_schema()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(fresh, encoding="utf-8")
    print(f"wrote {path} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
