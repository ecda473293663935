"""update_registry against the real SQLite registry: operations, and the errors of create/update that do not fit."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.flows.actions._shared import automation
from tests.flows.e2e_support import Runtime


def _registry_automation(runtime: Runtime, operation: str) -> None:
    runtime.write_automation(
        automation(
            f"registry_{operation}",
            f"""
            - type: update_registry
              name: write
              parameters:
                entity_type: service
                entity_id: "{{service}}"
                operation: {operation}
                data: {{owner: "{{owner}}"}}
            """,
        )
    )


def _entities(runtime: Runtime) -> list[tuple[str, str, dict[str, str], int]]:
    with sqlite3.connect(runtime.state_dir / "registry" / "registry.db") as db:
        rows = db.execute("SELECT entity_type, entity_id, data, version FROM entities").fetchall()
    return [(t, i, json.loads(d), v) for t, i, d, v in rows]


def test_create_of_an_existing_entity_fails_with_a_clear_message(runtime: Runtime) -> None:
    _registry_automation(runtime, "create")
    first = runtime.run("registry_create", service="billing", owner="team-a")
    second = runtime.run("registry_create", service="billing", owner="team-b")
    action = runtime.actions(second)["write"]

    assert first.is_completed(), first.message
    assert second.is_failed()
    assert (action.status, action.attempts) == ("Failed", 1)
    assert "registry: cannot create service/billing: it already exists (use upsert or update)" in action.message
    assert _entities(runtime) == [("service", "billing", {"owner": "team-a"}, 1)]  # unchanged


@pytest.mark.parametrize("operation", ["update", "merge"])
def test_changing_a_missing_entity_fails(runtime: Runtime, operation: str) -> None:
    _registry_automation(runtime, operation)
    state = runtime.run(f"registry_{operation}", service="ghost", owner="nobody")
    action = runtime.actions(state)["write"]

    assert state.is_failed()
    assert (action.status, action.attempts) == ("Failed", 1)
    assert "service/ghost" in action.message
    assert _entities(runtime) == []


def test_upsert_creates_then_replaces_and_counts_versions(runtime: Runtime) -> None:
    _registry_automation(runtime, "upsert")
    states = [runtime.run("registry_upsert", service="search", owner=f"team-{n}") for n in range(2)]

    assert all(s.is_completed() for s in states)
    assert _entities(runtime) == [("service", "search", {"owner": "team-1"}, 2)]
