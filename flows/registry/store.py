"""Registry store: entities, notifications, artifacts and metrics documents in one SQL database (SQLAlchemy Core)."""

from __future__ import annotations

import builtins
import copy
import importlib.util
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import URL, Row, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from compiler.language.settings import get_settings

__all__ = [
    "Deadline",
    "EntityExists",
    "EntityNotFound",
    "EntityRecord",
    "Operation",
    "RegistryBusy",
    "RegistryError",
    "RegistryStore",
    "registry_engine_url",
]

Operation = Literal["create", "update", "upsert", "delete", "merge"]
_OPERATIONS: tuple[str, ...] = get_args(Operation)
_WRITING_OPERATIONS = frozenset({"create", "update", "upsert", "merge"})

_MAX_NAME_CHARS = 200
_MAX_LIMIT = 10_000
_SQLITE_BUSY_TIMEOUT_S = 30.0
# Schema creation and upsert can lose a race against another process; one retry is normally enough.
_SCHEMA_ATTEMPTS = 3
_UPSERT_ATTEMPTS = 3
# Execution option that makes the SQLite "begin" hook take the write lock up front (BEGIN IMMEDIATE).
_WRITE_OPTION = "platform_god_registry_write"
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class RegistryError(Exception):
    """Any registry failure: invalid input, missing or duplicate entity, or a database error."""


class EntityExists(RegistryError):
    """``create`` was asked for an entity that is already stored."""


class EntityNotFound(RegistryError):
    """``update``, ``merge`` or ``delete`` was asked for an entity that is not stored."""


class RegistryBusy(RegistryError):
    """The database stayed locked by another writer until the deadline, or the deadline passed before the
    commit: nothing was written, and trying again later may succeed."""


@dataclass
class Deadline:
    """When a blocking registry call must have committed or given up (``time.monotonic()`` seconds).

    A call with a deadline waits for a locked database at most until then, and checks it again just
    before committing: a try that its caller already reported failed (timed out) never commits later.
    ``cancel()`` (from the caller's thread, when its wait was cancelled) ends it at once.
    """

    at: float
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(seconds, 0.0))

    def remaining(self) -> float:
        return 0.0 if self._cancelled.is_set() else max(self.at - time.monotonic(), 0.0)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class EntityRecord:
    """One stored entity; timestamps are timezone-aware UTC ISO-8601 strings."""

    entity_type: str
    entity_id: str
    data: dict[str, Any]
    version: int
    created_at: str
    updated_at: str


_metadata = MetaData()

# Identifier columns are VARCHAR(200) rather than TEXT so they stay indexable on every backend;
# the same limit is enforced in Python with a readable error.
_entities = Table(
    "entities",
    _metadata,
    Column("entity_type", String(_MAX_NAME_CHARS), primary_key=True),
    Column("entity_id", String(_MAX_NAME_CHARS), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# sqlite_autoincrement keeps ids strictly increasing even if rows are pruned, so "highest id" stays "newest".
_notifications = Table(
    "notifications",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("automation", String(_MAX_NAME_CHARS), nullable=False),
    Column("level", String(_MAX_NAME_CHARS), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", JSON(none_as_null=True), nullable=True),
    Column("created_at", String(32), nullable=False),
    Index("ix_notifications_automation_id", "automation", "id"),
    sqlite_autoincrement=True,
)

_artifacts = Table(
    "artifacts",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("automation", String(_MAX_NAME_CHARS), nullable=False),
    Column("artifact_type", String(_MAX_NAME_CHARS), nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_artifacts_automation_id", "automation", "id"),
    sqlite_autoincrement=True,
)

_metrics = Table(
    "metrics",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(_MAX_NAME_CHARS), nullable=False),
    Column("document", JSON, nullable=False),
    Column("created_at", String(32), nullable=False),
    sqlite_autoincrement=True,
)


class RegistryStore:
    """Thread-safe access to the registry database; one instance (one engine) per URL is enough per process."""

    # Keyed by pid as well as URL so a forked child never reuses its parent's pooled connections.
    _shared: ClassVar[dict[tuple[int, str], RegistryStore]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str) -> None:
        self._engine = _build_engine(url)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._closed = False

    @classmethod
    def from_settings(cls) -> RegistryStore:
        """The process-wide store for ``get_settings().effective_registry_url``."""
        url = get_settings().effective_registry_url
        key = (os.getpid(), url)
        with cls._shared_lock:
            store = cls._shared.get(key)
            if store is None:
                store = cls(url)
                cls._shared[key] = store
            return store

    def __enter__(self) -> RegistryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryStore({self._engine.url.render_as_string(hide_password=True)!r})"

    # ------------------------------------------------------------------ entities

    def apply(
        self,
        entity_type: str,
        entity_id: str,
        operation: Operation,
        data: dict[str, Any] | None,
        deadline: Deadline | None = None,
    ) -> EntityRecord:
        """Apply one operation in its own transaction and return the new record (the removed one for ``delete``).

        ``create`` fails if the entity exists; ``update`` replaces data and ``merge`` deep-merges dicts into it,
        both failing if it is missing; ``upsert`` creates or replaces; ``delete`` fails if missing and ignores
        ``data``. ``data=None`` means ``{}``. Every successful write increments ``version`` (create starts at 1).
        With a ``deadline`` the call waits for a locked database only until then and never commits after it
        (``RegistryBusy``: nothing written).
        """
        _check_name("entity_type", entity_type)
        _check_name("entity_id", entity_id)
        label = f"{entity_type}/{entity_id}"
        if operation not in _OPERATIONS:
            raise RegistryError(
                f"registry: unknown operation {operation!r} for {label}; expected one of {', '.join(_OPERATIONS)}"
            )
        payload: dict[str, Any] = {}
        if operation in _WRITING_OPERATIONS:
            payload = _check_document(data, f"data for {operation} of {label}")

        with self._database_errors(f"applying {operation} to {label}", deadline):
            for attempt in range(1, _UPSERT_ATTEMPTS + 1):
                try:
                    with self._transaction(write=True, deadline=deadline) as conn:
                        return self._apply_in(conn, entity_type, entity_id, operation, payload, label)
                except IntegrityError as exc:
                    # Insert + catch is the race-free "create" on every backend (no check-then-insert window).
                    if operation == "create":
                        raise EntityExists(
                            f"registry: cannot create {label}: it already exists (use upsert or update)"
                        ) from exc
                    # An upsert lost the insert race to another writer; the retry finds the row and updates it.
                    if attempt == _UPSERT_ATTEMPTS:
                        raise
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _apply_in(
        self,
        conn: Connection,
        entity_type: str,
        entity_id: str,
        operation: str,
        payload: dict[str, Any],
        label: str,
    ) -> EntityRecord:
        now = _now()
        if operation == "create":
            return _insert_entity(conn, entity_type, entity_id, payload, now)

        # FOR UPDATE serialises read-modify-write on PostgreSQL; SQLite ignores it and relies on BEGIN IMMEDIATE.
        row = conn.execute(
            select(_entities).where(*_entity_key(entity_type, entity_id)).with_for_update()
        ).one_or_none()

        if row is None:
            if operation == "upsert":
                return _insert_entity(conn, entity_type, entity_id, payload, now)
            hint = "" if operation == "delete" else " (use create or upsert)"
            raise EntityNotFound(f"registry: cannot {operation} {label}: it does not exist{hint}")

        current = _entity_record(row)
        if operation == "delete":
            conn.execute(delete(_entities).where(*_entity_key(entity_type, entity_id)))
            return current

        new_data = _deep_merge(current.data, payload) if operation == "merge" else payload
        result = conn.execute(
            update(_entities)
            # The version guard is belt and braces: the row lock above should make a mismatch impossible.
            .where(*_entity_key(entity_type, entity_id), _entities.c.version == current.version)
            .values(data=new_data, version=current.version + 1, updated_at=now)
        )
        if result.rowcount != 1:
            raise RegistryError(f"registry: {label} changed concurrently during {operation}; retry the operation")
        return EntityRecord(
            entity_type=entity_type,
            entity_id=entity_id,
            data=new_data,
            version=current.version + 1,
            created_at=current.created_at,
            updated_at=now,
        )

    def get(self, entity_type: str, entity_id: str) -> EntityRecord | None:
        """The stored entity, or None."""
        _check_name("entity_type", entity_type)
        _check_name("entity_id", entity_id)
        with self._database_errors(f"reading {entity_type}/{entity_id}"), self._transaction(write=False) as conn:
            row = conn.execute(select(_entities).where(*_entity_key(entity_type, entity_id))).one_or_none()
        return None if row is None else _entity_record(row)

    def list(self, entity_type: str | None = None, limit: int = 100) -> list[EntityRecord]:
        """Entities ordered by (entity_type, entity_id), optionally of one type."""
        if entity_type is not None:
            _check_name("entity_type", entity_type)
        _check_limit(limit)
        query = select(_entities).order_by(_entities.c.entity_type, _entities.c.entity_id).limit(limit)
        if entity_type is not None:
            query = query.where(_entities.c.entity_type == entity_type)
        with self._database_errors("listing entities"), self._transaction(write=False) as conn:
            rows = conn.execute(query).all()
        return [_entity_record(row) for row in rows]

    # ------------------------------------------------------------- notifications

    def add_notification(
        self,
        automation: str,
        level: str,
        message: str,
        data: dict[str, Any] | None = None,
        deadline: Deadline | None = None,
    ) -> int:
        """Store a notification and return its id."""
        _check_name("automation", automation)
        _check_name("level", level)
        if not isinstance(message, str):
            raise RegistryError(f"registry: notification message must be a string, got {type(message).__name__}")
        stored = None if data is None else _check_document(data, f"notification data for {automation}")
        values = {"automation": automation, "level": level, "message": message, "data": stored, "created_at": _now()}
        return self._insert_row(_notifications, values, f"storing a notification for {automation}", deadline)

    def notifications(self, automation: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        """Notifications newest first, as dicts with id, automation, level, message, data, created_at."""
        return self._recent_rows(_notifications, automation, limit, "reading notifications")

    # ----------------------------------------------------------------- artifacts

    def add_artifact(
        self,
        automation: str,
        artifact_type: str,
        path: str,
        sha256: str,
        size_bytes: int,
        deadline: Deadline | None = None,
    ) -> int:
        """Record a produced artifact and return its id; ``sha256`` is stored lower-case."""
        _check_name("automation", automation)
        _check_name("artifact_type", artifact_type)
        if not isinstance(path, str) or not path.strip():
            raise RegistryError(f"registry: artifact path must be a non-empty string, got {path!r}")
        if not isinstance(sha256, str) or not _SHA256_RE.fullmatch(sha256):
            raise RegistryError(f"registry: artifact sha256 must be 64 hex characters, got {sha256!r}")
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
            raise RegistryError(f"registry: artifact size_bytes must be an integer >= 0, got {size_bytes!r}")
        values = {
            "automation": automation,
            "artifact_type": artifact_type,
            "path": path,
            "sha256": sha256.lower(),
            "size_bytes": size_bytes,
            "created_at": _now(),
        }
        return self._insert_row(_artifacts, values, f"storing an artifact for {automation}", deadline)

    def artifacts(self, automation: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        """Artifacts newest first, as dicts with id, automation, artifact_type, path, sha256, size_bytes, created_at."""
        return self._recent_rows(_artifacts, automation, limit, "reading artifacts")

    # ------------------------------------------------------------------- metrics

    def put_metrics(self, document: dict[str, Any], source: str, deadline: Deadline | None = None) -> int:
        """Store a metrics document (it becomes the latest) and return its id."""
        _check_name("source", source)
        if document is None:
            raise RegistryError(f"registry: metrics document from {source} must be a JSON object (dict), got NoneType")
        checked = _check_document(document, f"metrics document from {source}")
        values = {"source": source, "document": checked, "created_at": _now()}
        return self._insert_row(_metrics, values, f"storing metrics from {source}", deadline)

    def latest_metrics(self, deadline: Deadline | None = None) -> dict[str, Any] | None:
        """The most recently stored metrics document (highest id), or None when there is none."""
        query = select(_metrics.c.document).order_by(_metrics.c.id.desc()).limit(1)
        with (
            self._database_errors("reading the latest metrics", deadline),
            self._transaction(write=False, deadline=deadline) as conn,
        ):
            document: dict[str, Any] | None = conn.execute(query).scalar_one_or_none()
        return document

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Dispose of the engine; the store cannot be used afterwards (``from_settings`` then builds a new one)."""
        if self._closed:
            return
        self._closed = True
        with RegistryStore._shared_lock:
            for key in [key for key, store in RegistryStore._shared.items() if store is self]:
                del RegistryStore._shared[key]
        self._engine.dispose()

    def _insert_row(self, table: Table, values: dict[str, Any], action: str, deadline: Deadline | None = None) -> int:
        with self._database_errors(action, deadline), self._transaction(write=True, deadline=deadline) as conn:
            result = conn.execute(insert(table).values(**values))
            key = result.inserted_primary_key
            assert key is not None  # an INSERT's result always has it
            new_id: int = key[0]
        return new_id

    def _recent_rows(self, table: Table, automation: str | None, limit: int, action: str) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        if automation is not None:
            _check_name("automation", automation)
        _check_limit(limit)
        query = select(table).order_by(table.c.id.desc()).limit(limit)
        if automation is not None:
            query = query.where(table.c.automation == automation)
        with self._database_errors(action), self._transaction(write=False) as conn:
            rows = conn.execute(query).all()
        return [row._asdict() for row in rows]

    @contextmanager
    def _transaction(self, *, write: bool, deadline: Deadline | None = None) -> Iterator[Connection]:
        if self._closed:
            raise RegistryError("registry: the store is closed")
        self._ensure_schema(deadline)
        with self._connect(write=write) as conn:
            self._bound_lock_wait(conn, deadline)
            with conn.begin():
                if deadline is not None and self._engine.dialect.name == "postgresql":
                    # SET LOCAL: for this transaction only (the pooled connection keeps no short timeout).
                    wait_ms = max(int(deadline.remaining() * 1000), 1)
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {wait_ms}")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {wait_ms}")
                yield conn
                if deadline is not None and deadline.expired:
                    # The caller's try has ended (timed out or cancelled): leaving by exception rolls back,
                    # so a try reported failed never commits afterwards.
                    raise RegistryBusy(
                        f"registry: gave up on {self._where}: the try's deadline passed before the write was "
                        "committed; nothing was written"
                    )

    def _bound_lock_wait(self, conn: Connection, deadline: Deadline | None) -> None:
        """SQLite: wait for another writer's lock at most until ``deadline`` (30 s without one). PostgreSQL's
        waits are bounded inside the transaction (``SET LOCAL``)."""
        seconds = _SQLITE_BUSY_TIMEOUT_S if deadline is None else min(_SQLITE_BUSY_TIMEOUT_S, deadline.remaining())
        if deadline is not None and seconds <= 0:
            raise RegistryBusy(f"registry: gave up on {self._where}: the try's deadline had passed; nothing was written")
        if self._engine.dialect.name == "sqlite":
            # On the driver connection, outside any transaction (isolation_level is None: no implicit BEGIN).
            driver = conn.connection.driver_connection
            assert driver is not None  # an open connection has its driver's
            driver.execute(f"PRAGMA busy_timeout = {max(int(seconds * 1000), 1)}")

    @property
    def _where(self) -> str:
        """The database as messages name it: the SQLite file's path, else the URL without its password."""
        url = self._engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            return str(Path(url.database).expanduser().resolve()) if not url.database.startswith("file:") else url.database
        return url.render_as_string(hide_password=True)

    @contextmanager
    def _database_errors(self, action: str, deadline: Deadline | None = None) -> Iterator[None]:
        """Give callers one exception type to catch, naming the cause and the database; the driver error stays
        chained for debugging."""
        started = time.monotonic()
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc)
            where = self._where
            if "database is locked" in detail or "lock timeout" in detail or "canceling statement" in detail:
                waited = time.monotonic() - started
                raise RegistryBusy(
                    f"registry: {where} is locked by another process (waited {waited:.1f} s) while {action}; "
                    "nothing was written"
                ) from exc
            raise RegistryError(f"registry: {_cause(detail, where)} while {action}") from exc

    def _connect(self, *, write: bool) -> Connection:
        conn = self._engine.connect()
        if write:
            conn.execution_options(**{_WRITE_OPTION: True})
        return conn

    def _ensure_schema(self, deadline: Deadline | None = None) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            if self._tables_exist(deadline):
                # Read-only check first: a process holding the write lock must not make every new
                # store wait for it just to learn that the tables are there.
                self._schema_ready = True
                return
            for attempt in range(1, _SCHEMA_ATTEMPTS + 1):
                try:
                    # On SQLite the write transaction serialises concurrent creators; elsewhere a loser retries.
                    with self._connect(write=True) as conn:
                        self._bound_lock_wait(conn, deadline)
                        with conn.begin():
                            _metadata.create_all(conn)
                    break
                except (OperationalError, ProgrammingError, IntegrityError) as exc:
                    # Another process created a table between our existence check and CREATE TABLE;
                    # the next attempt's check sees it and skips it. A locked database is not that race.
                    if attempt == _SCHEMA_ATTEMPTS or "database is locked" in str(exc):
                        raise
            self._schema_ready = True

    def _tables_exist(self, deadline: Deadline | None) -> bool:
        with self._connect(write=False) as conn:
            self._bound_lock_wait(conn, deadline)
            with conn.begin():
                existing = set(inspect(conn).get_table_names())
        return set(_metadata.tables) <= existing


# ---------------------------------------------------------------------- engines


def _build_engine(url: str) -> Engine:
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
    connect_args: dict[str, Any] = {"timeout": _SQLITE_BUSY_TIMEOUT_S}
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
        cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _use_wal(cursor)
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL lets readers proceed while one process writes; the setting is persistent in the file.

    Switching to it does not wait on busy_timeout: it fails at once ("database is locked") while another
    connection writes to a file still in rollback mode, which is what two processes opening a new registry at
    the same moment do (the concurrent-processes test failed 4 times in 30 on a loaded machine). So it is
    retried until the busy timeout, and skipped once the file is in WAL mode."""
    deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
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
    if conn.get_execution_options().get(_WRITE_OPTION):
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


def _cause(detail: str, where: str) -> str:
    lowered = detail.lower()
    for words, ours in _SQLITE_CAUSES:
        if words in lowered:
            return ours.format(where=where)
    if "connection refused" in lowered:
        return f"cannot connect to {where}: connection refused"
    first = detail.strip().splitlines()[0] if detail.strip() else "database error"
    return f"database error at {where}: {first}"


# --------------------------------------------------------------------- helpers


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _entity_key(entity_type: str, entity_id: str) -> tuple[Any, Any]:
    return (_entities.c.entity_type == entity_type, _entities.c.entity_id == entity_id)


def _entity_record(row: Row[Any]) -> EntityRecord:
    return EntityRecord(
        entity_type=row.entity_type,
        entity_id=row.entity_id,
        data=row.data,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _insert_entity(
    conn: Connection, entity_type: str, entity_id: str, data: dict[str, Any], now: str
) -> EntityRecord:
    conn.execute(
        insert(_entities).values(
            entity_type=entity_type, entity_id=entity_id, data=data, version=1, created_at=now, updated_at=now
        )
    )
    return EntityRecord(entity_type, entity_id, data, 1, now, now)


def _check_name(what: str, value: object) -> None:
    if not isinstance(value, str):
        raise RegistryError(f"registry: {what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RegistryError(f"registry: {what} must be a non-empty string, got {value!r}")
    if len(value) > _MAX_NAME_CHARS:
        raise RegistryError(f"registry: {what} is {len(value)} characters long; at most {_MAX_NAME_CHARS} allowed")


def _check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
        raise RegistryError(f"registry: limit must be an integer from 1 to {_MAX_LIMIT}, got {limit!r}")


def _check_document(value: object, where: str) -> dict[str, Any]:
    """Validate a top-level JSON object and return a private deep copy (callers may keep mutating theirs)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RegistryError(f"registry: {where} must be a JSON object (dict), got {type(value).__name__}")
    _check_json(value, where, "$", set())
    return copy.deepcopy(value)


def _check_json(value: object, where: str, path: str, active: set[int]) -> None:
    # Strict plain data: what json.dumps would silently coerce (tuples, int keys) or reject late
    # (datetime, sets, NaN) is refused here with the offending path, before any transaction starts.
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RegistryError(f"registry: {where} is not JSON data: {path} is {value!r} (NaN/Infinity)")
        return
    if isinstance(value, (dict, list)):
        if id(value) in active:
            raise RegistryError(f"registry: {where} is not JSON data: {path} refers back to itself")
        active.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise RegistryError(
                        f"registry: {where} is not JSON data: {path} has a key of type "
                        f"{type(key).__name__} ({key!r}); object keys must be str"
                    )
                child = f"{path}.{key}" if _PLAIN_KEY_RE.fullmatch(key) else f"{path}[{key!r}]"
                _check_json(item, where, child, active)
        else:
            for index, item in enumerate(value):
                _check_json(item, where, f"{path}[{index}]", active)
        active.discard(id(value))
        return
    raise RegistryError(
        f"registry: {where} is not JSON data: {path} has type {type(value).__name__} "
        "(allowed: dict, list, str, int, float, bool, None)"
    )


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Dicts merge key by key, recursively; any other value (lists, scalars, None) replaces the old one."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged
