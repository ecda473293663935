"""Behaviour of the registry store against real SQLite files (including several processes on one file)."""

from __future__ import annotations

import multiprocessing
import queue
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from compiler.language.settings import get_settings
from flows.registry import EntityExists, EntityNotFound, RegistryError, RegistryStore

SHA = "ab" * 32


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "registry.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[RegistryStore]:
    with RegistryStore(sqlite_url(db_path)) as opened:
        yield opened


# ------------------------------------------------------------------ error table

_cycle: dict[str, Any] = {}
_cycle["self"] = _cycle

# (setup operations, apply() arguments, expected exception type, message substring)
ERROR_CASES: dict[str, tuple[list[tuple[Any, ...]], tuple[Any, ...], type[Exception], str]] = {
    "create-existing": (
        [("service", "api", "create", {})],
        ("service", "api", "create", {"a": 1}),
        EntityExists,
        "cannot create service/api: it already exists (use upsert or update)",
    ),
    "update-missing": (
        [],
        ("service", "api", "update", {"a": 1}),
        EntityNotFound,
        "cannot update service/api: it does not exist",
    ),
    "merge-missing": (
        [],
        ("service", "api", "merge", {"a": 1}),
        EntityNotFound,
        "cannot merge service/api: it does not exist",
    ),
    "delete-missing": (
        [],
        ("service", "api", "delete", None),
        EntityNotFound,
        "cannot delete service/api: it does not exist",
    ),
    "delete-after-delete": (
        [("service", "api", "create", {}), ("service", "api", "delete", None)],
        ("service", "api", "delete", None),
        EntityNotFound,
        "cannot delete service/api",
    ),
    "non-json-datetime": (
        [],
        ("service", "api", "create", {"when": datetime.now(UTC)}),
        RegistryError,
        "$.when has type datetime",
    ),
    "non-json-set": ([], ("service", "api", "upsert", {"tags": {"a"}}), RegistryError, "$.tags has type set"),
    "non-json-tuple": ([], ("service", "api", "upsert", {"xs": [1, (2, 3)]}), RegistryError, "$.xs[1] has type tuple"),
    "non-json-bytes": ([], ("service", "api", "upsert", {"raw": b"x"}), RegistryError, "has type bytes"),
    "non-json-nan": ([], ("service", "api", "upsert", {"score": float("nan")}), RegistryError, "NaN"),
    "non-string-key": ([], ("service", "api", "upsert", {"m": {1: "x"}}), RegistryError, "$.m has a key of type int"),
    "self-reference": ([], ("service", "api", "upsert", _cycle), RegistryError, "refers back to itself"),
    "data-not-object": (
        [],
        ("service", "api", "create", ["a"]),
        RegistryError,
        "must be a JSON object (dict), got list",
    ),
    "empty-id": ([], ("service", "", "create", {}), RegistryError, "entity_id must be a non-empty string"),
    "blank-type": ([], ("   ", "api", "create", {}), RegistryError, "entity_type must be a non-empty string"),
    "non-string-id": ([], ("service", 7, "create", {}), RegistryError, "entity_id must be a string, got int"),
    "too-long-id": ([], ("service", "x" * 201, "create", {}), RegistryError, "at most 200 allowed"),
    "unknown-operation": ([], ("service", "api", "rename", {}), RegistryError, "unknown operation 'rename'"),
}


@pytest.mark.parametrize("case", list(ERROR_CASES), ids=list(ERROR_CASES))
def test_apply_rejects(store: RegistryStore, case: str) -> None:
    setup, args, expected, fragment = ERROR_CASES[case]
    for operation in setup:
        store.apply(*operation)
    with pytest.raises(expected) as raised:
        store.apply(*args)
    assert fragment in str(raised.value)


@pytest.mark.parametrize("error", [EntityExists, EntityNotFound])
def test_entity_errors_are_registry_errors(error: type[Exception]) -> None:
    assert issubclass(error, RegistryError)


def test_id_of_exactly_200_characters_is_accepted(store: RegistryStore) -> None:
    assert store.apply("service", "x" * 200, "create", {}).version == 1


def test_failed_create_leaves_existing_entity_unchanged(store: RegistryStore) -> None:
    store.apply("service", "api", "create", {"owner": "a"})
    with pytest.raises(EntityExists):
        store.apply("service", "api", "create", {"owner": "b"})
    assert store.get("service", "api").data == {"owner": "a"}


# ------------------------------------------------------------ entity operations


def test_create_returns_version_one_with_data(store: RegistryStore) -> None:
    record = store.apply("service", "api", "create", {"owner": "team-a"})
    assert (record.version, record.data) == (1, {"owner": "team-a"})


def test_create_with_none_data_stores_empty_object(store: RegistryStore) -> None:
    assert store.apply("service", "api", "create", None).data == {}


def test_get_returns_what_was_written(store: RegistryStore) -> None:
    written = store.apply("service", "api", "create", {"owner": "team-a", "ports": [80, 443], "ok": True})
    assert store.get("service", "api") == written


def test_get_missing_returns_none(store: RegistryStore) -> None:
    assert store.get("service", "nope") is None


def test_version_increments_on_every_change(store: RegistryStore) -> None:
    versions = [
        store.apply("service", "api", "create", {"a": 1}).version,
        store.apply("service", "api", "update", {"a": 2}).version,
        store.apply("service", "api", "merge", {"b": 3}).version,
        store.apply("service", "api", "upsert", {"c": 4}).version,
    ]
    assert versions == [1, 2, 3, 4]


def test_upsert_creates_missing_entity(store: RegistryStore) -> None:
    assert store.apply("service", "api", "upsert", {"a": 1}).version == 1


def test_upsert_replaces_existing_data(store: RegistryStore) -> None:
    store.apply("service", "api", "create", {"a": 1, "b": 2})
    assert store.apply("service", "api", "upsert", {"c": 3}).data == {"c": 3}


def test_update_replaces_data_instead_of_merging(store: RegistryStore) -> None:
    store.apply("service", "api", "create", {"a": 1, "nested": {"x": 1}})
    store.apply("service", "api", "update", {"nested": {"y": 2}})
    assert store.get("service", "api").data == {"nested": {"y": 2}}


MERGE_CASES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "adds-new-key": ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    "replaces-scalar": ({"a": 1}, {"a": 2}, {"a": 2}),
    "merges-nested-dicts": (
        {"health": {"score": 90, "checks": {"db": "ok"}}},
        {"health": {"checks": {"cache": "ok"}}},
        {"health": {"score": 90, "checks": {"db": "ok", "cache": "ok"}}},
    ),
    "replaces-lists-whole": ({"tags": ["a", "b"]}, {"tags": ["c"]}, {"tags": ["c"]}),
    "dict-replaces-scalar": ({"a": 1}, {"a": {"x": 1}}, {"a": {"x": 1}}),
    "scalar-replaces-dict": ({"a": {"x": 1}}, {"a": 1}, {"a": 1}),
    "none-is-stored-not-deleted": ({"a": 1}, {"a": None}, {"a": None}),
    "empty-patch-keeps-data": ({"a": {"x": 1}}, {}, {"a": {"x": 1}}),
}


@pytest.mark.parametrize("case", list(MERGE_CASES), ids=list(MERGE_CASES))
def test_merge_deep_merges_into_existing_data(store: RegistryStore, case: str) -> None:
    existing, patch, expected = MERGE_CASES[case]
    store.apply("service", "api", "create", existing)
    store.apply("service", "api", "merge", patch)
    assert store.get("service", "api").data == expected


def test_delete_returns_the_deleted_record(store: RegistryStore) -> None:
    created = store.apply("service", "api", "create", {"a": 1})
    assert store.apply("service", "api", "delete", None) == created


def test_delete_removes_the_entity(store: RegistryStore) -> None:
    store.apply("service", "api", "create", {"a": 1})
    store.apply("service", "api", "delete", None)
    assert store.get("service", "api") is None


def test_create_after_delete_starts_again_at_version_one(store: RegistryStore) -> None:
    store.apply("service", "api", "create", {})
    store.apply("service", "api", "update", {})
    store.apply("service", "api", "delete", None)
    assert store.apply("service", "api", "create", {}).version == 1


def test_update_keeps_created_at_and_advances_updated_at(store: RegistryStore) -> None:
    created = store.apply("service", "api", "create", {"a": 1})
    updated = store.apply("service", "api", "update", {"a": 2})
    assert (updated.created_at, updated.updated_at > created.updated_at) == (created.created_at, True)


def test_timestamps_are_timezone_aware_utc(store: RegistryStore) -> None:
    record = store.apply("service", "api", "create", {})
    assert datetime.fromisoformat(record.created_at).utcoffset().total_seconds() == 0


def test_stored_data_is_isolated_from_caller_mutation(store: RegistryStore) -> None:
    data: dict[str, Any] = {"nested": {"x": 1}}
    store.apply("service", "api", "create", data)
    data["nested"]["x"] = 99
    assert store.get("service", "api").data == {"nested": {"x": 1}}


def test_unicode_data_round_trips(store: RegistryStore) -> None:
    store.apply("service", "api", "create", {"name": "Zürich ✓", "big": 2**53 + 1, "pi": 3.25})
    assert store.get("service", "api").data == {"name": "Zürich ✓", "big": 2**53 + 1, "pi": 3.25}


def test_list_filters_by_type_in_id_order(store: RegistryStore) -> None:
    for entity_type, entity_id in [("service", "b"), ("team", "x"), ("service", "a")]:
        store.apply(entity_type, entity_id, "create", {})
    assert [r.entity_id for r in store.list("service")] == ["a", "b"]


def test_list_without_type_returns_all_up_to_limit(store: RegistryStore) -> None:
    for entity_id in ["a", "b", "c"]:
        store.apply("service", entity_id, "create", {})
    assert [r.entity_id for r in store.list(limit=2)] == ["a", "b"]


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, "5"])
def test_list_rejects_bad_limit(store: RegistryStore, limit: Any) -> None:
    with pytest.raises(RegistryError, match="limit must be an integer"):
        store.list(limit=limit)


# ----------------------------------------------- notifications, artifacts, metrics


def test_notification_round_trip(store: RegistryStore) -> None:
    new_id = store.add_notification("nightly-scan", "warning", "score dropped", {"score": 41})
    (stored,) = store.notifications()
    assert {k: v for k, v in stored.items() if k != "created_at"} == {
        "id": new_id,
        "automation": "nightly-scan",
        "level": "warning",
        "message": "score dropped",
        "data": {"score": 41},
    }


def test_notification_without_data_stores_none(store: RegistryStore) -> None:
    store.add_notification("nightly-scan", "info", "done")
    assert store.notifications()[0]["data"] is None


def test_notifications_are_newest_first_and_filtered_by_automation(store: RegistryStore) -> None:
    for automation, message in [("a", "1"), ("b", "2"), ("a", "3")]:
        store.add_notification(automation, "info", message)
    assert [n["message"] for n in store.notifications("a")] == ["3", "1"]


def test_notification_rejects_non_json_data(store: RegistryStore) -> None:
    with pytest.raises(RegistryError, match=r"\$\.at has type datetime"):
        store.add_notification("a", "info", "m", {"at": datetime.now(UTC)})


def test_artifact_round_trip(store: RegistryStore) -> None:
    new_id = store.add_artifact("nightly-scan", "report", "/state/artifacts/r.json", SHA.upper(), 123)
    (stored,) = store.artifacts("nightly-scan")
    assert {k: v for k, v in stored.items() if k != "created_at"} == {
        "id": new_id,
        "automation": "nightly-scan",
        "artifact_type": "report",
        "path": "/state/artifacts/r.json",
        "sha256": SHA,
        "size_bytes": 123,
    }


def test_artifacts_are_newest_first(store: RegistryStore) -> None:
    for path in ["one", "two"]:
        store.add_artifact("a", "report", path, SHA, 1)
    assert [a["path"] for a in store.artifacts()] == ["two", "one"]


ARTIFACT_ERRORS: dict[str, tuple[tuple[Any, ...], str]] = {
    "short-sha": (("a", "report", "p", "abc", 1), "sha256 must be 64 hex characters"),
    "negative-size": (("a", "report", "p", SHA, -1), "size_bytes must be an integer >= 0"),
    "empty-path": (("a", "report", "", SHA, 1), "path must be a non-empty string"),
    "empty-automation": (("", "report", "p", SHA, 1), "automation must be a non-empty string"),
}


@pytest.mark.parametrize("case", list(ARTIFACT_ERRORS), ids=list(ARTIFACT_ERRORS))
def test_add_artifact_rejects(store: RegistryStore, case: str) -> None:
    args, fragment = ARTIFACT_ERRORS[case]
    with pytest.raises(RegistryError) as raised:
        store.add_artifact(*args)
    assert fragment in str(raised.value)


def test_latest_metrics_is_none_when_empty(store: RegistryStore) -> None:
    assert store.latest_metrics() is None


def test_latest_metrics_returns_last_document(store: RegistryStore) -> None:
    store.put_metrics({"metrics": {"health_score": 90}}, source="PG_HEALTH")
    store.put_metrics({"metrics": {"health_score": 42}}, source="PG_HEALTH")
    assert store.latest_metrics() == {"metrics": {"health_score": 42}}


def test_put_metrics_returns_increasing_ids(store: RegistryStore) -> None:
    ids = [store.put_metrics({"n": n}, source="agent") for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


@pytest.mark.parametrize("document", [None, [1, 2], "text"])
def test_put_metrics_requires_an_object(store: RegistryStore, document: Any) -> None:
    with pytest.raises(RegistryError, match="metrics document from agent must be a JSON object"):
        store.put_metrics(document, source="agent")


# ------------------------------------------------------- files, engines, settings


def test_creates_parent_folders_of_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "registry.db"
    with RegistryStore(sqlite_url(path)) as opened:
        opened.apply("service", "api", "create", {})
    assert path.is_file()


def test_sqlite_file_uses_wal_journal(store: RegistryStore, db_path: Path) -> None:
    store.apply("service", "api", "create", {})
    with sqlite3.connect(db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unknown_dialect_is_a_registry_error_without_password(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as raised:
        RegistryStore("nosuchdb://user:s3cret@host/db")
    assert "s3cret" not in str(raised.value) and "cannot open" in str(raised.value)


def test_unparsable_url_is_a_registry_error() -> None:
    with pytest.raises(RegistryError, match="cannot parse the database URL"):
        RegistryStore("not a url")


def test_closed_store_refuses_use(db_path: Path) -> None:
    opened = RegistryStore(sqlite_url(db_path))
    opened.close()
    with pytest.raises(RegistryError, match="store is closed"):
        opened.get("service", "api")


@pytest.fixture
def settings_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AUTOMATIONS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("AUTOMATIONS_REGISTRY_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "state"
    RegistryStore.from_settings().close()
    get_settings.cache_clear()


def test_from_settings_reuses_one_store_per_url(settings_state_dir: Path) -> None:
    assert RegistryStore.from_settings() is RegistryStore.from_settings()


def test_from_settings_writes_under_state_dir(settings_state_dir: Path) -> None:
    RegistryStore.from_settings().apply("service", "api", "create", {})
    assert (settings_state_dir / "registry" / "registry.db").is_file()


def test_from_settings_after_close_builds_a_fresh_store(settings_state_dir: Path) -> None:
    first = RegistryStore.from_settings()
    first.close()
    assert RegistryStore.from_settings() is not first


# ------------------------------------------------------------------ concurrency


def test_two_stores_on_one_file_see_each_others_writes(db_path: Path) -> None:
    with RegistryStore(sqlite_url(db_path)) as a, RegistryStore(sqlite_url(db_path)) as b:
        a.apply("service", "api", "create", {"from": "a"})
        b.apply("service", "api", "merge", {"by": "b"})
        a.apply("service", "api", "merge", {"again": "a"})
        seen_by_b = b.get("service", "api")
        assert (seen_by_b.data, seen_by_b.version) == ({"from": "a", "by": "b", "again": "a"}, 3)


def test_threads_merging_into_one_entity_lose_no_keys(store: RegistryStore) -> None:
    store.apply("service", "api", "create", {})

    def merge_keys(worker: int) -> None:
        for n in range(25):
            store.apply("service", "api", "merge", {f"w{worker}-{n}": n})

    threads = [threading.Thread(target=merge_keys, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.get("service", "api").data) == 100


PROCESSES = 2
UPSERTS_PER_PROCESS = 50


def _upsert_worker(url: str, worker: int, barrier: Any, errors: Any) -> None:
    # Runs in a spawned process: its own engine and connections, like a separate flow run.
    try:
        with RegistryStore(url) as own:
            barrier.wait(timeout=60)  # start together so schema creation and writes really overlap
            for n in range(UPSERTS_PER_PROCESS):
                own.apply("counter", "shared", "upsert", {"worker": worker, "n": n})
    except BaseException as exc:  # noqa: BLE001 - report everything: the parent asserts on this queue
        errors.put(f"worker {worker}: {exc!r}")


@pytest.fixture(scope="module")
def concurrent_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    url = sqlite_url(tmp_path_factory.mktemp("concurrent") / "registry.db")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    errors = ctx.Queue()
    processes = [ctx.Process(target=_upsert_worker, args=(url, w, barrier, errors)) for w in range(PROCESSES)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
    reported: list[str] = []
    while True:
        try:
            reported.append(errors.get(timeout=1))
        except queue.Empty:
            break
    reported += [f"process exit code {p.exitcode}" for p in processes if p.exitcode != 0]
    return url, reported


def test_concurrent_processes_upsert_without_errors(concurrent_run: tuple[str, list[str]]) -> None:
    _, reported = concurrent_run
    assert reported == []


def test_concurrent_processes_lose_no_upserts(concurrent_run: tuple[str, list[str]]) -> None:
    url, _ = concurrent_run
    with RegistryStore(url) as reader:
        assert reader.get("counter", "shared").version == PROCESSES * UPSERTS_PER_PROCESS


def test_a_store_opened_while_another_connection_writes_a_new_file_waits_for_it(tmp_path: Path) -> None:
    # A new file is in rollback mode until the first store switches it to WAL, and that switch fails at once
    # (it ignores busy_timeout) while another connection writes: two processes opening a new registry together.
    path = tmp_path / "registry.db"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other (i INTEGER)")
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO other VALUES (1)")
    commit = threading.Timer(0.5, lambda: writer.execute("COMMIT"))
    commit.start()
    try:
        with RegistryStore(sqlite_url(path)) as store:
            store.apply("counter", "shared", "upsert", {"n": 1})
            assert store.get("counter", "shared").version == 1
    finally:
        commit.join()
        writer.close()
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
