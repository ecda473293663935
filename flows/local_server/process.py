"""The process of a local Prefect server: `prefect server start`, a new SQLite database seeded first.

    python -m flows.local_server.process --host 127.0.0.1 --port 4200    # arguments of `prefect server start`

The database is the one Prefect's settings name in this process (PREFECT_HOME's ``prefect.db`` unless a
connection URL is configured), so a PostgreSQL URL or an existing file is left alone; see
``flows/local_server/schema_snapshot.py`` for why a new SQLite file is seeded.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings
from sqlalchemy.engine import make_url

from flows.local_server.schema_snapshot import seed_database, snapshot_has_these_blocks

__all__ = ["main", "new_sqlite_database"]


def new_sqlite_database(connection_url: str) -> Path | None:
    """The file of a SQLite connection URL, when there is a file and it does not exist yet."""
    url = make_url(connection_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database)
    return None if database.exists() else database


def main(argv: list[str]) -> None:
    database = new_sqlite_database(PREFECT_API_DATABASE_CONNECTION_URL.value())
    updates: dict[str, object] = {}
    if database is not None and seed_database(database) and snapshot_has_these_blocks():
        # The seeded block types are the ones this server would register (1.5–2.5 s of its start); Prefect
        # then records them as registered (its memo), so later starts skip the registration as usual.
        updates["server.register_blocks_on_start"] = False
    from prefect.cli import app  # the `prefect` command's entry point

    sys.argv = ["prefect", "server", "start", *argv]
    with temporary_settings(updates=updates):
        app()


if __name__ == "__main__":
    main(sys.argv[1:])
