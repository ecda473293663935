"""Persist only what idempotency needs, and answer a completed occurrence before any task starts (issue 11).

Real flow runs in this process against the session's Prefect server; the HTTP server on 127.0.0.1 counts
what was really sent, the Prefect API says which task runs exist.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.flows.e2e_support import Runtime


async def _task_runs(flow_run_id: Any) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        return list(await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))))


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_rerun_of_a_completed_occurrence_answers_from_its_record_without_task_runs(runtime: Runtime, tag: str) -> None:
    name = runtime.write_call_then_note("answered", tag)
    first = runtime.run(name, idempotency_key=tag)
    again = runtime.run(name, idempotency_key=tag)
    history = runtime.history(again)

    assert first.is_completed() and first.name == "Completed", first.message
    assert (again.type.value, again.name) == ("COMPLETED", "Cached")
    assert f"already completed by run {first.state_details.flow_run_id}" in again.message
    assert "2/2 actions succeeded" in again.message  # the stored outcome
    assert asyncio.run(_task_runs(again.state_details.flow_run_id)) == []
    assert [(a.name, a.status) for a in history.actions] == [("call", "Cached"), ("note", "Cached")]
    assert history.actions[0].summary == "status_code=200"
    assert len(runtime.server.requests(f"/script/200/{tag}/call")) == 1


async def _state_types(flow_run_id: Any) -> list[str]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return [state.type.value for state in await client.read_flow_run_states(flow_run_id)]


def test_a_direct_rerun_is_answered_before_prefects_engine_starts(runtime: Runtime, tag: str) -> None:
    name = runtime.write_call_then_note("answered_direct", tag)
    first = runtime.run(name, idempotency_key=tag)
    again = runtime.run(name, idempotency_key=tag)

    # Through the engine a run passes Pending and Running; answered, it is created Completed and stays so.
    assert asyncio.run(_state_types(first.state_details.flow_run_id))[-1] == "COMPLETED"
    assert "RUNNING" in asyncio.run(_state_types(first.state_details.flow_run_id))
    assert asyncio.run(_state_types(again.state_details.flow_run_id)) == ["COMPLETED"]


def test_a_rerun_as_a_subflow_is_answered_inside_the_engine(runtime: Runtime, tag: str) -> None:
    from prefect import flow

    from flows.engine.flow_factory import build_flow

    name = runtime.write_call_then_note("answered_subflow", tag)
    automation = build_flow(runtime.loaded(name))
    first = runtime.run(name, idempotency_key=tag)

    @flow(name=f"parent-{tag}")
    async def parent() -> Any:
        return await automation(return_state=True, idempotency_key=tag)

    again = asyncio.run(parent())
    assert (again.type.value, again.name) == ("COMPLETED", "Cached")
    assert f"already completed by run {first.state_details.flow_run_id}" in again.message
    assert "RUNNING" in asyncio.run(_state_types(again.state_details.flow_run_id))  # the engine ran it
    assert asyncio.run(_task_runs(again.state_details.flow_run_id)) == []
    assert len(runtime.server.requests(f"/script/200/{tag}/call")) == 1


def test_an_action_without_side_effects_persists_nothing(runtime: Runtime, tag: str) -> None:
    name = runtime.write_call_then_note("no_side_effects", tag)
    runtime.run(name, idempotency_key=tag)
    results = runtime.state_dir / "results"

    # One stored result (data + cache key record) for the HTTP call; nothing for the log message.
    assert len(_files(results / "data")) == 1
    assert len(_files(results / "keys")) == 1


def test_a_half_finished_occurrence_reruns_only_what_did_not_complete(runtime: Runtime, tag: str) -> None:
    """No record is written while an action has not completed; the re-run executes just that action."""
    flaky = f"/script/500-200/{tag}/flaky"
    name = runtime.write_automation(
        f"""
        name: half_done
        trigger:
          type: event
          event: {{event_type: custom, custom_type: probe}}
        actions:
          - type: http_request
            name: call
            parameters: {{url: "{runtime.server.url}/script/200/{tag}/call"}}
          - type: http_request
            name: flaky
            parameters: {{url: "{runtime.server.url}{flaky}"}}
        """
    )
    first = runtime.run(name, idempotency_key=tag)
    second = runtime.run(name, idempotency_key=tag)
    third = runtime.run(name, idempotency_key=tag)

    assert first.is_failed()
    assert {a.name: a.status for a in runtime.history(second).actions} == {"call": "Cached", "flaky": "Completed"}
    assert third.name == "Cached"
    assert len(runtime.server.requests(f"/script/200/{tag}/call")) == 1
    assert len(runtime.server.requests(flaky)) == 2


def test_an_edited_automation_is_not_answered_from_the_old_record(runtime: Runtime, tag: str) -> None:
    name = runtime.write_call_then_note("edited", tag)
    runtime.run(name, idempotency_key=tag)
    runtime.write_call_then_note("edited", tag, extra="retry_count: 1")
    again = runtime.run(name, idempotency_key=tag)

    assert again.name == "Completed"  # ran: its HTTP action came back Cached from the result store
    assert {a.name: a.status for a in runtime.history(again).actions} == {"call": "Cached", "note": "Completed"}
    assert len(runtime.server.requests(f"/script/200/{tag}/call")) == 1


def test_a_manual_run_without_a_key_is_never_answered_from_a_record(runtime: Runtime, tag: str) -> None:
    name = runtime.write_call_then_note("manual", tag)
    runtime.run(name)
    again = runtime.run(name)

    assert again.name == "Completed"
    assert len(runtime.server.requests(f"/script/200/{tag}/call")) == 2


def test_an_expired_idempotency_window_runs_again(runtime: Runtime, tag: str) -> None:
    import time

    name = runtime.write_call_then_note("expiring", tag, extra="idempotency: {expire_seconds: 1}")
    runtime.run(name, idempotency_key=tag)
    time.sleep(1.5)
    again = runtime.run(name, idempotency_key=tag)

    assert again.name == "Completed"
    assert len(runtime.server.requests(f"/script/200/{tag}/call")) == 2
