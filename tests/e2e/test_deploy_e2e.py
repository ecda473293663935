"""Issue 4, end to end without a worker: deploy the examples (plus a Berlin cron automation) to the session's
Prefect server with ``compiler.commands.deploy``, then check schedules, the condition watcher and event triggers.

Created flow runs are executed here with Prefect's engine (``run_flow`` with the created run), as a worker
would execute them; nothing of Prefect or of the project is replaced. `prefect deploy --all` accepting the
generated file is covered by tests/compiler/commands/build/test_build.py and tests/compiler/commands/deploy/test_deploy.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from compiler.commands.deploy import deploy
from tests.prefect_support import (
    example_names,
    execute_flow_run,
    make_project,
    project_runtime,
    reset_cooldown,
    runs_of_deployment,
    using_api,
    wait_for,
    without_server_state_of,
)

BERLIN = ZoneInfo("Europe/Berlin")
CRON_NAME = "berlin_nightly"
CRON_AUTOMATION = """\
description: Nightly at 02:30 Berlin time.
trigger:
  type: time
  time: {cron_expression: "30 2 * * *", timezone_str: Europe/Berlin}
actions:
  - type: log_message
    name: say
    parameters: {message: nightly}
"""
CHAIN_EVENT = "platform-god.chain.completed"
BURST = 200


@pytest.fixture(scope="module")
def project(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example automations + berlin_nightly, deployed; this process then runs flows like a worker in it.

    Other modules share the server and deploy or serve the same examples: nothing of theirs (a waiting run,
    a taken cooldown slot) reaches this module, and it leaves nothing of its own behind.
    """
    base = tmp_path_factory.mktemp("e2e-deploy")
    root = make_project(base, {CRON_NAME: CRON_AUTOMATION})
    with without_server_state_of(prefect_server, [*example_names(), CRON_NAME]), pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_HOME", str(base / "prefect-home"))  # `prefect deploy` never touches ~/.prefect
        result = deploy(root / "configs" / "automations", root, api_url=prefect_server)
        assert result.ok and len(result.deployments) == 6, result
        with using_api(prefect_server), project_runtime(root, base / "state"):
            yield root


@pytest.fixture
def registry(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh registry (state folder) for this test."""
    from compiler.language.settings import get_settings
    from flows.registry import RegistryStore

    monkeypatch.setenv("AUTOMATIONS_STATE_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    yield RegistryStore.from_settings()
    monkeypatch.undo()
    get_settings.cache_clear()


def _expected_local_run(day: date) -> datetime:
    """When a daily 02:30 Berlin job runs on ``day``: at 02:30, or 03:30 when the clock skips 02:00-03:00
    (spring forward); on the fall-back day 02:30 happens twice and the job runs once, at the first one."""
    wanted = datetime.combine(day, time(2, 30), tzinfo=BERLIN)  # fold=0: the first 02:30 of a repeated hour
    if wanted.astimezone(UTC).astimezone(BERLIN).replace(tzinfo=None) != wanted.replace(tzinfo=None):
        return datetime.combine(day, time(3, 30), tzinfo=BERLIN)  # 02:30 does not exist that day
    return wanted


def _next_offset_changes(start: date, count: int = 2) -> list[date]:
    """The next days on which Berlin's UTC offset changes (the DST switches)."""
    changes: list[date] = []
    day = start
    while len(changes) < count:
        before = datetime.combine(day, time(0, 0), tzinfo=BERLIN).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=BERLIN).utcoffset()
        if before != after:
            changes.append(day)
        day += timedelta(days=1)
    return changes


# --------------------------------------------------------------------------------------------------
# Time trigger


def test_cron_runs_are_scheduled_at_0230_berlin_time(project: Path) -> None:
    runs = asyncio.run(wait_for(lambda: runs_of_deployment(f"{CRON_NAME}/{CRON_NAME}"), lambda r: len(r) >= 3, timeout=60))
    assert len(runs) >= 3, "the scheduler created no runs within 60 s"
    starts = sorted(r.expected_start_time for r in runs)
    assert all(r.auto_scheduled and r.state.is_scheduled() for r in runs)
    days = [s.astimezone(BERLIN).date() for s in starts]
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]  # one run a day, none missing
    assert [s.astimezone(BERLIN) for s in starts] == [_expected_local_run(d) for d in days]


def test_cron_schedule_follows_daylight_saving_time(project: Path) -> None:
    """The scheduler only creates a few runs ahead, so the DST switches are checked on the deployed schedule
    object with the server's own date generator."""
    from prefect.client.orchestration import get_client
    from prefect.server.schemas.schedules import CronSchedule

    async def deployed_dates(start: date) -> list[datetime]:
        async with get_client() as client:
            deployment = await client.read_deployment_by_name(f"{CRON_NAME}/{CRON_NAME}")
        schedule = CronSchedule(**deployment.schedules[0].schedule.model_dump())
        begin = datetime.combine(start, time(0, 0), tzinfo=BERLIN)
        return list(await schedule.get_dates(n=4, start=begin))

    for switch in _next_offset_changes(date.today()):  # the next spring-forward and fall-back days
        first = switch - timedelta(days=1)
        dates = asyncio.run(deployed_dates(first))
        expected = [_expected_local_run(first + timedelta(days=i)) for i in range(4)]
        assert [d.astimezone(BERLIN) for d in dates] == expected, switch
        assert len({d.astimezone(BERLIN).date() for d in dates}) == 4  # once a day, also on the fall-back day


# --------------------------------------------------------------------------------------------------
# Condition trigger


def test_health_alert_fires_below_50_once_within_its_cooldown(project: Path, registry: Any) -> None:
    from flows.conditions.watcher import condition_watcher

    registry.put_metrics({"metrics": {"health_score": 42}}, "test")

    async def scenario() -> tuple[Any, Any, Any]:
        await reset_cooldown("health_alert")
        first = await (await condition_watcher(automation="health_alert", return_state=True)).aresult()
        executed = await execute_flow_run(first["flow_run_id"])
        second_check = await condition_watcher(automation="health_alert", return_state=True)
        second = await second_check.aresult()
        # Either the watcher saw the cooldown (no run), or the run it created is skipped by the gate.
        second_state = await execute_flow_run(second["flow_run_id"]) if second["flow_run_id"] else second_check
        return first, executed, second_state

    first, executed, second_state = asyncio.run(scenario())
    assert first["fired"] and first["value"] == 42
    assert executed.is_completed() and executed.name == "Completed", executed.message
    (notification,) = registry.notifications("health_alert")
    assert notification["message"] == "Health score is 42 (below 50)" and notification["level"] == "warning"
    assert registry.get("health_alert", "latest").data["health_score"] in (42, "42")
    assert second_state.is_completed() and second_state.name == "Skipped" and "cooldown" in second_state.message


# --------------------------------------------------------------------------------------------------
# Event trigger: a burst of 200 matching events inside one cooldown


def _chain_event(chain: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "occurred": datetime.now(UTC).isoformat(),
        "event": CHAIN_EVENT,
        "resource": {"prefect.resource.id": f"platform-god.chain.{chain}", "platform-god.chain-name": chain,
                     "platform-god.status": "completed"},
        "payload": {"chain_name": chain, "status": "completed", "completed_steps": 3, "total_steps": 3, "execution_time_ms": 1200},
    }


def _post(api_url: str, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 50):
        response = httpx.post(f"{api_url}/events", json=events[start : start + 50], timeout=30)
        assert response.status_code == 204, response.text


async def _runs_for(event_ids: set[str]) -> list[Any]:
    runs = await runs_of_deployment("chain_completion_notification/chain_completion_notification")
    return [r for r in runs if ((r.parameters or {}).get("event") or {}).get("id") in event_ids]


@pytest.fixture(scope="module")
def burst(project: Path, prefect_server: str) -> dict[str, Any]:
    """One event for another chain, then 200 full_analysis completions; the runs the trigger created for each."""
    other = _chain_event("other_chain")
    matching = [_chain_event("full_analysis") for _ in range(BURST)]
    asyncio.run(reset_cooldown("chain_completion_notification"))
    _post(prefect_server, [other])
    _post(prefect_server, matching)
    ids = {e["id"] for e in matching}

    async def settled() -> list[Any]:
        runs = await wait_for(lambda: _runs_for(ids), bool, timeout=60)
        while True:  # until no new run appears for 3 s (the trigger's `within` damps the burst)
            await asyncio.sleep(3)
            again = await _runs_for(ids)
            if len(again) == len(runs):
                return runs
            runs = again

    runs = asyncio.run(settled())
    return {"runs": runs, "other_runs": asyncio.run(_runs_for({other["id"]}))}


def test_burst_of_200_events_runs_the_actions_exactly_once(burst: dict[str, Any], registry: Any) -> None:
    assert 1 <= len(burst["runs"]) <= 5, f"{len(burst['runs'])} runs for {BURST} events"

    async def execute_all() -> list[Any]:
        return [await execute_flow_run(run.id) for run in burst["runs"]]

    states = asyncio.run(execute_all())
    ran = [s for s in states if s.is_completed() and s.name == "Completed"]
    skipped = [s for s in states if s.is_completed() and s.name == "Skipped"]
    assert len(ran) == 1 and len(skipped) == len(states) - 1, [(s.name, s.message) for s in states]
    (notification,) = registry.notifications("chain_completion_notification")
    assert notification["message"] == "Chain full_analysis completed: 3/3 steps in 1200 ms"
    assert registry.get("chain_run", "full_analysis") is not None


def test_event_for_another_chain_creates_no_run(burst: dict[str, Any]) -> None:
    # It was posted before the burst, whose first event the same trigger did fire on.
    assert burst["runs"] and burst["other_runs"] == []
