"""The issue's fault injection, end to end: the registry file held by another process (BEGIN EXCLUSIVE), an
update_registry action with a short timeout and one retry. Every try ends at its deadline with a message
naming the file, the run ends while the file is still held, and nothing is committed afterwards."""

from __future__ import annotations

import sqlite3

from flows.registry import RegistryStore
from tests.flows.actions._shared import automation
from tests.flows.e2e_support import Runtime
from tests.flows.registry.test_store_deadlines import Holder


def test_a_held_registry_fails_each_try_at_its_deadline_and_never_commits_later(runtime: Runtime) -> None:
    db = runtime.state_dir / "registry" / "registry.db"
    with RegistryStore(f"sqlite:///{db}") as store:
        store.apply("service", "warm", "upsert", {"schema": "ready"})
    runtime.write_automation(
        automation(
            "held_registry",
            """
            - type: update_registry
              name: write
              timeout_seconds: 3
              retry_count: 1
              parameters: {entity_type: service, entity_id: billing, operation: upsert, data: {owner: team-a}}
            """,
        )
    )
    holder = Holder(db)
    try:
        state = runtime.run("held_registry")
        still_held = holder.holding()
    finally:
        holder.release()
    action = runtime.actions(state)["write"]
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT entity_id, data, version FROM entities WHERE entity_id = 'billing'").fetchall()

    assert still_held  # the run ended at the deadlines, not when the other process let go
    assert state.is_failed() and (action.status, action.attempts) == ("Failed", 2)
    assert action.message.startswith(f"registry: {db} is locked by another process (waited ")
    assert action.message.endswith("while applying upsert to service/billing; nothing was written")
    assert rows == []  # neither try committed once the lock was released
