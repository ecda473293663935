"""Database engines of the registry: SQLite files in WAL mode with bounded lock waits, or PostgreSQL through a sync driver."""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from flows.registry.errors import RegistryError

__all__ = ["SQLITE_BUSY_TIMEOUT_S", "WRITE_OPTION", "build_engine", "describe_cause", "registry_engine_url"]

SQLITE_BUSY_TIMEOUT_S = 30.0
# Execution option that makes the SQLite "begin" hook take the write lock up front (BEGIN IMMEDIATE).
WRITE_OPTION = "platform_god_registry_write"


def build_engine(url: str) -> Engine:
    if not isinstance(url, str) or not url.strip():
        raise RegistryError("registry: database URL must be a non-empty string")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # The raw URL is not echoed: it may carry a password.
        raise RegistryError("registry: cannot parse the database URL (check AUTOMATIONS_REGISTRY_URL)") from exc
    try:
        if parsed.get_backend_name() == "sqlite":
            return _build_sqlite_engine(parsed)
        # pre_ping recovers transparently from server-side disconnects between flow runs.
        return create_engine(registry_engine_url(parsed), pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise RegistryError(f"registry: cannot open {shown}: {exc}") from exc


_POSTGRES_FIX = 'pip install -e ".[postgres]"'


def _module_available(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def registry_engine_url(url: URL, available: Callable[[str], bool] = _module_available) -> URL:
    """The URL the registry's (synchronous) engine uses for a PostgreSQL URL in any form users copy.

    ``postgresql+asyncpg://`` is Prefect's async driver (PREFECT_API_DATABASE_CONNECTION_URL); synchronous
    SQLAlchemy cannot use it ("greenlet_spawn has not been called"), so it is translated to psycopg (3) or
    psycopg2, whichever is installed; ``postgresql://`` (no driver named) gets the same choice. Without
    either, the message names the extra that installs one.
    """
    if url.get_backend_name() != "postgresql":
        return url
    shown = url.render_as_string(hide_password=True)
    driver = url.get_driver_name()
    if "+" in url.drivername and driver != "asyncpg":
        if driver in ("psycopg", "psycopg2") and not available(driver):
            raise RegistryError(f"registry: {driver} is not installed for {shown}: {_POSTGRES_FIX} installs psycopg")
        return url  # a synchronous driver named explicitly: as given
    for name in ("psycopg", "psycopg2"):  # no driver named, or Prefect's asyncpg: an installed sync one
        if available(name):
            return url.set(drivername=f"postgresql+{name}")
    if driver == "asyncpg":
        raise RegistryError(
            f"registry: {shown} names Prefect's async driver (asyncpg); the registry needs a synchronous "
            f"PostgreSQL driver: {_POSTGRES_FIX} installs psycopg, then this URL works as it is"
        )
    raise RegistryError(f"registry: no PostgreSQL driver for {shown}: {_POSTGRES_FIX} installs psycopg")


def _build_sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    if not in_memory and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    kwargs: dict[str, Any] = {}
    if in_memory:
        # Every pooled connection would otherwise get its own empty database; one shared connection
        # is only suitable for single-threaded use (tests).
        kwargs["poolclass"] = StaticPool
        connect_args["check_same_thread"] = False
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take BEGIN away from the sqlite3 module so _sqlite_on_begin can choose deferred or IMMEDIATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Waiting instead of failing is what keeps parallel flow processes free of "database is locked".
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _use_wal(cursor)
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL lets readers proceed while one process writes; the setting is persistent in the file.

    Switching to it does not wait on busy_timeout: it fails at once ("database is locked") while another
    connection writes to a file still in rollback mode, which is what two processes opening a new registry at
    the same moment do (the concurrent-processes test failed 4 times in 30 on a loaded machine). So it is
    retried until the busy timeout, and skipped once the file is in WAL mode."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:  # the driver's own error: this runs below SQLAlchemy
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_begin(conn: Connection) -> None:
    # A deferred transaction that reads and then writes can fail with SQLITE_BUSY without waiting
    # (its snapshot is stale); taking the write lock at BEGIN makes writers queue on busy_timeout instead.
    if conn.get_execution_options().get(WRITE_OPTION):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


# SQLite's words for what is wrong with the file, and ours (naming the file).
_SQLITE_CAUSES = (
    ("file is not a database", "{where} is not a SQLite database (file is not a database)"),
    ("database disk image is malformed", "{where} is a damaged SQLite database (database disk image is malformed)"),
    ("database or disk is full", "disk full at {where}"),
    ("attempt to write a readonly database", "{where} is read-only"),
    ("unable to open database file", "cannot open {where} (missing folder or no permission)"),
    ("disk i/o error", "disk I/O error at {where}"),
)


def describe_cause(detail: str, where: str) -> str:
    lowered = detail.lower()
    for words, ours in _SQLITE_CAUSES:
        if words in lowered:
            return ours.format(where=where)
    if "connection refused" in lowered:
        return f"cannot connect to {where}: connection refused"
    first = detail.strip().splitlines()[0] if detail.strip() else "database error"
    return f"database error at {where}: {first}"
