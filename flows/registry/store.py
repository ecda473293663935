"""Registry store: entities, notifications, artifacts and metrics documents in one SQL database (SQLAlchemy Core)."""

from __future__ import annotations

import builtins
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from sqlalchemy import Connection, Table, delete, insert, inspect, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from compiler.language.settings import get_settings
from flows.registry.deadline import Deadline
from flows.registry.documents import check_document, check_limit, check_name, deep_merge
from flows.registry.engines import SQLITE_BUSY_TIMEOUT_S, WRITE_OPTION, build_engine, describe_cause
from flows.registry.errors import EntityExists, EntityNotFound, RegistryBusy, RegistryError
from flows.registry.schema import EntityRecord, artifacts_table, entities, metadata, metrics_table, notifications_table

__all__ = ["Operation", "RegistryStore"]

Operation = Literal["create", "update", "upsert", "delete", "merge"]
_OPERATIONS: tuple[str, ...] = get_args(Operation)
_WRITING_OPERATIONS = frozenset({"create", "update", "upsert", "merge"})

# Schema creation and upsert can lose a race against another process; one retry is normally enough.
_SCHEMA_ATTEMPTS = 3
_UPSERT_ATTEMPTS = 3
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


class RegistryStore:
    """Thread-safe access to the registry database; one instance (one engine) per URL is enough per process."""

    # Keyed by pid as well as URL so a forked child never reuses its parent's pooled connections.
    _shared: ClassVar[dict[tuple[int, str], RegistryStore]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, url: str) -> None:
        self._engine = build_engine(url)
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
        check_name("entity_type", entity_type)
        check_name("entity_id", entity_id)
        label = f"{entity_type}/{entity_id}"
        if operation not in _OPERATIONS:
            raise RegistryError(
                f"registry: unknown operation {operation!r} for {label}; expected one of {', '.join(_OPERATIONS)}"
            )
        payload: dict[str, Any] = {}
        if operation in _WRITING_OPERATIONS:
            payload = check_document(data, f"data for {operation} of {label}")

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
            select(entities).where(*_entity_key(entity_type, entity_id)).with_for_update()
        ).one_or_none()

        if row is None:
            if operation == "upsert":
                return _insert_entity(conn, entity_type, entity_id, payload, now)
            hint = "" if operation == "delete" else " (use create or upsert)"
            raise EntityNotFound(f"registry: cannot {operation} {label}: it does not exist{hint}")

        current = _entity_record(row)
        if operation == "delete":
            conn.execute(delete(entities).where(*_entity_key(entity_type, entity_id)))
            return current

        new_data = deep_merge(current.data, payload) if operation == "merge" else payload
        result = conn.execute(
            update(entities)
            # The version guard is belt and braces: the row lock above should make a mismatch impossible.
            .where(*_entity_key(entity_type, entity_id), entities.c.version == current.version)
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
        check_name("entity_type", entity_type)
        check_name("entity_id", entity_id)
        with self._database_errors(f"reading {entity_type}/{entity_id}"), self._transaction(write=False) as conn:
            row = conn.execute(select(entities).where(*_entity_key(entity_type, entity_id))).one_or_none()
        return None if row is None else _entity_record(row)

    def list(self, entity_type: str | None = None, limit: int = 100) -> list[EntityRecord]:
        """Entities ordered by (entity_type, entity_id), optionally of one type."""
        if entity_type is not None:
            check_name("entity_type", entity_type)
        check_limit(limit)
        query = select(entities).order_by(entities.c.entity_type, entities.c.entity_id).limit(limit)
        if entity_type is not None:
            query = query.where(entities.c.entity_type == entity_type)
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
        check_name("automation", automation)
        check_name("level", level)
        if not isinstance(message, str):
            raise RegistryError(f"registry: notification message must be a string, got {type(message).__name__}")
        stored = None if data is None else check_document(data, f"notification data for {automation}")
        values = {"automation": automation, "level": level, "message": message, "data": stored, "created_at": _now()}
        return self._insert_row(notifications_table, values, f"storing a notification for {automation}", deadline)

    def notifications(self, automation: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        """Notifications newest first, as dicts with id, automation, level, message, data, created_at."""
        return self._recent_rows(notifications_table, automation, limit, "reading notifications")

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
        check_name("automation", automation)
        check_name("artifact_type", artifact_type)
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
        return self._insert_row(artifacts_table, values, f"storing an artifact for {automation}", deadline)

    def artifacts(self, automation: str | None = None, limit: int = 100) -> builtins.list[dict[str, Any]]:  # `list` is a method here
        """Artifacts newest first, as dicts with id, automation, artifact_type, path, sha256, size_bytes, created_at."""
        return self._recent_rows(artifacts_table, automation, limit, "reading artifacts")

    # ------------------------------------------------------------------- metrics

    def put_metrics(self, document: dict[str, Any], source: str, deadline: Deadline | None = None) -> int:
        """Store a metrics document (it becomes the latest) and return its id."""
        check_name("source", source)
        if document is None:
            raise RegistryError(f"registry: metrics document from {source} must be a JSON object (dict), got NoneType")
        checked = check_document(document, f"metrics document from {source}")
        values = {"source": source, "document": checked, "created_at": _now()}
        return self._insert_row(metrics_table, values, f"storing metrics from {source}", deadline)

    def latest_metrics(self, deadline: Deadline | None = None) -> dict[str, Any] | None:
        """The most recently stored metrics document (highest id), or None when there is none."""
        query = select(metrics_table.c.document).order_by(metrics_table.c.id.desc()).limit(1)
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
            check_name("automation", automation)
        check_limit(limit)
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
        seconds = SQLITE_BUSY_TIMEOUT_S if deadline is None else min(SQLITE_BUSY_TIMEOUT_S, deadline.remaining())
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
            raise RegistryError(f"registry: {describe_cause(detail, where)} while {action}") from exc

    def _connect(self, *, write: bool) -> Connection:
        conn = self._engine.connect()
        if write:
            conn.execution_options(**{WRITE_OPTION: True})
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
                            metadata.create_all(conn)
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
        return set(metadata.tables) <= existing


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _entity_key(entity_type: str, entity_id: str) -> tuple[Any, Any]:
    return (entities.c.entity_type == entity_type, entities.c.entity_id == entity_id)


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
        insert(entities).values(
            entity_type=entity_type, entity_id=entity_id, data=data, version=1, created_at=now, updated_at=now
        )
    )
    return EntityRecord(entity_type, entity_id, data, 1, now, now)
