"""A new SQLite database for a local Prefect server starts from a snapshot of a new server's database.

Why: Prefect creates a server's database by replaying its ~120 Alembic migrations one by one and then
registers every block type it knows (~60 types and schemas, one transaction each). Both took most of every
first server start here (benchmark P4: the first `run` on a fresh checkout took 20.8 s, ~17.7 s of it waiting
for the server to answer; migrations 8.7–12 s, block registration 1.5–2.5 s). The result is the same for
every new database of one Prefect release with the same collections installed, so it is kept as SQL text
(`schema_snapshots/prefect-<version>-sqlite.sql`: what ``sqlite3``'s ``iterdump`` prints of the database of a
`prefect server start` on an empty file, with the collections it was made with in its header) and a new
database is created from it in ~0.1 s. Prefect still checks the migrations when the server starts (its
default): with the snapshot's revision at head, that check does nothing. The block types are trusted only
when this environment's Prefect collections are the snapshot's (``snapshot_has_these_blocks``); otherwise the
server registers them as usual.

A Prefect release without a snapshot replays its migrations as before (slower, never wrong);
``tests/flows/local_server/test_schema_snapshot.py`` fails until one is written for the installed release:

    python -m flows.local_server.schema_snapshot            # write the snapshot of the installed Prefect
    python -m flows.local_server.schema_snapshot --check    # exit 1 when it differs from a new server's database
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = [
    "SNAPSHOT_DIR",
    "block_registry",
    "describe_database",
    "dump_database",
    "new_server_database",
    "new_server_schema",
    "seed_database",
    "snapshot_has_these_blocks",
    "snapshot_matches_a_new_server",
    "snapshot_path",
]

SNAPSHOT_DIR = Path(__file__).with_name("schema_snapshots")
_START_TIMEOUT_SECONDS = 600.0  # ~20 s here; a loaded 2-core machine is several times slower
_REGISTRY_HEADER = "-- block registry: "
# Row values that differ between two new databases: ids and the moments rows were written.
_VOLATILE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?")


def installed_prefect_version() -> str:
    return importlib.metadata.version("prefect")


def snapshot_path() -> Path:
    """The installed Prefect's snapshot."""
    return SNAPSHOT_DIR / f"prefect-{installed_prefect_version()}-sqlite.sql"


def block_registry() -> str:
    """What decides the block types a server registers: Prefect and every installed Prefect collection (the
    server imports the ``prefect.collections`` entry points), as ``name==version`` pairs."""
    versions = {f"prefect=={installed_prefect_version()}"}
    for entry_point in importlib.metadata.entry_points(group="prefect.collections"):
        if entry_point.dist is not None:
            versions.add(f"{entry_point.dist.name}=={entry_point.dist.version}")
    return ", ".join(sorted(versions))


def snapshot_has_these_blocks(snapshot: Path | None = None) -> bool:
    """True when the snapshot's block types were registered with this environment's Prefect collections."""
    snapshot = snapshot or snapshot_path()
    with contextlib.suppress(OSError), snapshot.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.startswith("--"):
                break
            if line.startswith(_REGISTRY_HEADER):
                return line[len(_REGISTRY_HEADER):].strip() == block_registry()
    return False


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
    """What makes two new databases the same for Prefect: every table's columns in order, every schema object's
    definition, every row but its ids, timestamps and set orders. A definition is compared as its set of lines: Alembic
    rebuilds a table with its constraints in set order, which differs from one Python process to the next."""
    with contextlib.closing(sqlite3.connect(database)) as connection:
        objects = connection.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        described: dict[str, object] = {}
        for kind, name, table, sql in objects:
            lines = sorted(line.strip().rstrip(",").strip() for line in (sql or "").splitlines())
            described[f"{kind} {name}"] = (table, lines)
            if kind == "table":
                described[f"columns {name}"] = connection.execute(f'PRAGMA table_xinfo("{name}")').fetchall()
                rows = connection.execute(f'SELECT * FROM "{name}"')
                described[f"rows {name}"] = sorted(_VOLATILE.sub("*", repr(tuple(map(_as_set, row)))) for row in rows)
        return described


def _as_set(cell: object) -> object:
    """A JSON list of strings compared as a set: Prefect writes some sets (a block schema's capabilities) as lists
    in set order."""
    if isinstance(cell, str) and cell.startswith("["):
        with contextlib.suppress(ValueError):
            items = json.loads(cell)
            if isinstance(items, list) and all(isinstance(item, str) for item in items):
                return sorted(items)
    return cell


def new_server_database(database: Path) -> None:
    """Let Prefect create ``database``: `prefect server start` on it (127.0.0.1, a temporary PREFECT_HOME, no
    other Prefect setting of this environment, no services) until it answers, then stopped."""
    # deferred: the local server module costs ~110 ms (measured: click); the server process imports this module to seed
    # its database (P4's first run) and never starts another server
    from flows.local_server.server import LocalServer, StartingServer, free_port, stop_local_server

    with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as folder:
        home, port = Path(folder), free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
        env.update({"PREFECT_HOME": folder, "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{database}",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_SERVER_UI_ENABLED": "false"})
        log = home / "server.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port), "--no-services"],
                env=env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            StartingServer(server, LocalServer(server.pid, port, folder)).wait(_START_TIMEOUT_SECONDS)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{log.read_text()}") from exc
        finally:
            stop_local_server(home)  # by its pid, recorded once it answered (a server that did not is stopped by wait)


def new_server_schema() -> str:
    """The snapshot text for this environment: a new server's database, dumped, under a header naming the
    Prefect release and collections it was made with."""
    with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as folder:
        database = Path(folder) / "prefect.db"
        new_server_database(database)
        header = (
            f"-- The SQLite database a new Prefect {installed_prefect_version()} server creates: migrations and block types.\n"
            "-- Written by `python -m flows.local_server.schema_snapshot`; new local servers' databases start from it.\n"
            f"{_REGISTRY_HEADER}{block_registry()}\n"
        )
        return header + dump_database(database)


def snapshot_matches_a_new_server() -> bool:
    """True when a database seeded from the installed Prefect's snapshot is the one a new server creates."""
    with tempfile.TemporaryDirectory(prefix="schema-snapshot-") as folder:
        seeded, fresh = Path(folder) / "seeded.db", Path(folder) / "fresh.db"
        if not seed_database(seeded):
            return False
        new_server_database(fresh)
        return describe_database(seeded) == describe_database(fresh)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.local_server.schema_snapshot", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with a new server's database instead of writing")
    args = parser.parse_args(argv)
    path = snapshot_path()
    if args.check:
        if snapshot_matches_a_new_server() and snapshot_has_these_blocks():
            print(f"{path}: matches a new Prefect {installed_prefect_version()} server's database ({block_registry()})")
            return 0
        print(f"{path}: {'differs from' if path.is_file() else 'missing; write it from'} a new server's database "
              f"or was made with other collections: python -m flows.local_server.schema_snapshot")
        return 1
    fresh = new_server_schema()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(fresh, encoding="utf-8")
    print(f"wrote {path} ({len(fresh)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
