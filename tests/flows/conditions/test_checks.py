"""Batched condition checks (one read of a source for every condition on it), against the session's Prefect
server: real flow runs, a real metrics file, the real registry; nothing mocked."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from compiler.language.condition_groups import CHECK_ANCHOR, ConditionGroup, check_tick, condition_groups
from tests.prefect_support import execute_flow_run, project_runtime, runs_of_deployment, using_api, wait_for

AUTOMATION = """\
name: {name}
trigger:
  type: condition
  condition:
    metric_path: "$.{key}"
    operator: gt
    threshold: 50
    check_interval_seconds: 60
    source: {{type: file, path: "{metrics}"}}
  cooldown_seconds: {cooldown}
actions:
  - type: log_message
    name: say
    parameters: {{message: "{key} is {{condition.value}}"}}
"""
KEYS = ("a", "b", "c")
TICK = CHECK_ANCHOR + timedelta(days=2500)  # any multiple of the interval: checks are idempotent per tick


class Checked:
    """Three condition automations on one metrics file (one group), each with a bare deployment of its name."""

    def __init__(self, base: Path, cooldown: int = 3600) -> None:
        self.tag = f"chk{uuid.uuid4().hex[:8]}"
        self.base = base
        self.metrics = base / "metrics.json"
        folder = base / "configs" / "automations"
        folder.mkdir(parents=True)
        (base / "configs" / "chains").mkdir()
        for key in KEYS:
            text = AUTOMATION.format(name=self.name(key), key=key, metrics=self.metrics, cooldown=cooldown)
            (folder / f"{self.name(key)}.yaml").write_text(text, encoding="utf-8")

    def name(self, key: str) -> str:
        return f"{self.tag}_{key}"

    @property
    def group(self) -> ConditionGroup:
        from flows.engine.definitions import catalog

        (group,) = condition_groups(loaded.automation for loaded in catalog().automations.values()).values()
        return group

    def set_metrics(self, **values: Any) -> None:
        self.metrics.write_text(json.dumps(values), encoding="utf-8")

    async def deploy(self) -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            for key in KEYS:
                flow_id = await client.create_flow_from_name(self.name(key))
                await client.create_deployment(flow_id=flow_id, name=self.name(key))

    async def check(self, tick: datetime = TICK) -> Any:
        from prefect.client.orchestration import get_client

        from flows.conditions.checks import check_group

        async with get_client() as client:
            return await check_group(self.group, tick, client)

    async def runs(self, key: str) -> list[Any]:
        return await runs_of_deployment(f"{self.name(key)}/{self.name(key)}")


@pytest.fixture
def checked(tmp_path: Path, prefect_server: str) -> Any:
    automations = Checked(tmp_path)
    with using_api(prefect_server), project_runtime(tmp_path, tmp_path / "state"):
        asyncio.run(automations.deploy())
        yield automations


async def _all_runs() -> int:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.count_flow_runs()


def test_a_quiet_check_evaluates_every_condition_and_creates_no_flow_run(checked: Checked) -> None:
    checked.set_metrics(a=1, b=2, c=3)

    async def scenario() -> tuple[int, Any, int]:
        before = await _all_runs()
        report = await checked.check()
        return before, report, await _all_runs()

    before, report, after = asyncio.run(scenario())
    assert [(r.name, r.state, r.value, r.action) for r in report.results] == [
        (checked.name("a"), "clear", 1, ""), (checked.name("b"), "clear", 2, ""), (checked.name("c"), "clear", 3, "")
    ]
    assert after == before


def test_a_check_that_fires_starts_one_run_and_none_while_in_cooldown(checked: Checked) -> None:
    checked.set_metrics(a=1, b=70, c=3)

    async def scenario() -> tuple[list[Any], list[Any], list[Any]]:
        first = await checked.check(TICK)
        again = await checked.check(TICK)  # the same tick checked twice (a second checker): the same run
        (run,) = await checked.runs("b")
        await execute_flow_run(run.id)  # the run's gate takes the cooldown slot
        later = await checked.check(TICK + timedelta(seconds=60))
        return [first, again, later], await checked.runs("b"), await checked.runs("a") + await checked.runs("c")

    reports, fired_runs, quiet_runs = asyncio.run(scenario())
    (run,) = fired_runs
    assert quiet_runs == []
    outcomes = [next((r.action, r.flow_run_id) for r in report.results if r.name == checked.name("b")) for report in reports]
    assert outcomes == [("started", str(run.id)), ("started", str(run.id)), ("cooldown", None)]
    assert run.state is not None and run.state.is_completed()
    assert run.parameters == {
        "condition": {
            "metric_path": "$.b", "operator": "gt", "threshold": 50, "match": "any", "value": 70, "values": [70],
            "check_id": f"{checked.group.name}@{TICK:%Y-%m-%dT%H:%M:%SZ}",
        }
    }


def test_an_unreadable_source_marks_every_condition_unavailable_and_starts_nothing(checked: Checked) -> None:
    report = asyncio.run(checked.check())  # no metrics file at all
    assert {r.state for r in report.results} == {"unavailable"}
    assert all("cannot read metrics file" in r.reason for r in report.results)
    assert asyncio.run(checked.runs("a")) == []


def test_the_last_check_of_each_condition_is_kept_in_the_registry(checked: Checked) -> None:
    from flows.conditions.checks import last_check
    from flows.engine.definitions import load_automation

    checked.set_metrics(a=51, b="high", c=3)
    asyncio.run(checked.check())
    last = {key: last_check(load_automation(checked.name(key)).automation) for key in KEYS}
    assert {key: (entry["state"], entry["value"]) for key, entry in last.items() if entry} == {
        "a": ("holds", 51), "b": ("problem", "high"), "c": ("clear", 3)
    }
    assert last["b"]["reason"] == '$.b = "high": gt 50 does not hold: "high" is not a number'
    assert last["a"]["action"] == "started" and last["a"]["check_id"].endswith(f"@{TICK:%Y-%m-%dT%H:%M:%SZ}")


def test_a_condition_that_changes_state_is_an_event(checked: Checked) -> None:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.worker import EventsWorker

    checked.set_metrics(a=1, b=2, c=3)
    asyncio.run(checked.check(TICK))
    checked.set_metrics(a=1, b=2, c="gone")
    asyncio.run(checked.check(TICK + timedelta(seconds=60)))
    EventsWorker.drain_all(timeout=10)

    async def read() -> list[Any]:
        async with get_client() as client:
            page = await client.read_events(
                EventFilter(
                    event=EventNameFilter(prefix=["platform-god.condition."]),
                    resource=EventResourceFilter(id_prefix=[f"platform-god.condition.{checked.tag}"]),
                ),
                limit=50,
            )
        return list(page.events)

    events = asyncio.run(wait_for(read, bool, timeout=30))
    assert [(e.event, e.resource["platform-god.automation"], e.payload["previous_state"], e.payload["state"]) for e in events] == [
        ("platform-god.condition.changed", checked.name("c"), "clear", "problem")
    ]


async def _checked_events(group: str) -> list[Any]:
    """The recording events of ``group``'s checks, once the events worker sent them and the server stored them."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.worker import EventsWorker

    from compiler.language.prefect_names import CONDITION_CHECKED_EVENT, CONDITION_GROUP_LABEL

    await asyncio.to_thread(EventsWorker.drain_all, timeout=10)

    async def read() -> list[Any]:
        async with get_client() as client:
            page = await client.read_events(
                EventFilter(event=EventNameFilter(name=[CONDITION_CHECKED_EVENT]),
                            resource=EventResourceFilter(labels={CONDITION_GROUP_LABEL: [group]})),
                limit=50,
            )
        return list(page.events)

    found = await wait_for(read, bool, timeout=30)
    await asyncio.sleep(1)  # a second event would be stored by now
    return found + [e for e in await read() if e.id not in {f.id for f in found}]


async def _check_in_serve(group: ConditionGroup) -> str:
    from flows.conditions.checker import ConditionChecker

    stop, reports = asyncio.Event(), []
    checker = ConditionChecker({group.name: group}, {}, on_report=lambda report: (reports.append(report), stop.set()))
    await asyncio.wait_for(checker.run(stop), timeout=60)
    return str(reports[0].check_id)


async def _check_in_watcher_flow(group: ConditionGroup) -> str:
    from flows.conditions.watcher import condition_watcher

    state = await condition_watcher(group=group.name, return_state=True)
    assert state.is_completed(), state.message
    return str((await state.aresult())["check_id"])


@pytest.mark.parametrize("where", [_check_in_serve, _check_in_watcher_flow], ids=["serve-checker", "group-watcher-flow"])
def test_a_group_check_of_several_members_is_recorded_in_one_event_holding_every_member(checked: Checked, where: Any) -> None:
    checked.set_metrics(a=1, b=70, c="high")

    async def scenario() -> tuple[str, list[Any]]:
        check = await where(checked.group)
        return check, await _checked_events(checked.group.name)

    check, events = asyncio.run(scenario())
    (event,) = events
    payload = event.payload
    assert (payload["group"], payload["check_id"]) == (checked.group.name, check)
    assert [(m["automation"], m["condition"]["metric_path"], m["holds"]) for m in payload["members"]] == [
        (checked.name("a"), "$.a", False), (checked.name("b"), "$.b", True), (checked.name("c"), "$.c", False)
    ]
    assert payload["matches"] == {"$.a": [{"path": "a", "value": 1}], "$.b": [{"path": "b", "value": 70}], "$.c": [{"path": "c", "value": "high"}]}


def test_the_in_process_checker_checks_at_once_and_starts_the_run(checked: Checked) -> None:
    from flows.conditions.checker import ConditionChecker

    checked.set_metrics(a=99, b=2, c=3)

    async def scenario() -> list[Any]:
        reports: list[Any] = []
        stop = asyncio.Event()
        checker = ConditionChecker({checked.group.name: checked.group}, {}, on_report=lambda report: (reports.append(report), stop.set()))
        await asyncio.wait_for(checker.run(stop), timeout=60)
        return reports

    (report,) = asyncio.run(scenario())
    now_tick = check_tick(60, datetime.now(UTC))
    assert report.check_id in {f"{checked.group.name}@{t:%Y-%m-%dT%H:%M:%SZ}" for t in (now_tick, now_tick - timedelta(seconds=60))}
    assert [r.name for r in report.started] == [checked.name("a")]
    (run,) = asyncio.run(checked.runs("a"))
    assert str(run.id) == report.started[0].flow_run_id


@pytest.mark.parametrize("built", [True, False], ids=["from-build-index", "from-automation-files"])
def test_the_watcher_flow_of_a_group_checks_every_member_once(checked: Checked, built: bool) -> None:
    from compiler.commands.build import build
    from compiler.language.deploy_config import BuildOptions
    from flows.conditions.watcher import condition_watcher

    if built:
        assert build(checked.base / "configs" / "automations", checked.base, BuildOptions()).ok
    checked.set_metrics(a=1, b=2, c=77)

    async def scenario() -> tuple[Any, list[Any]]:
        state = await condition_watcher(group=checked.group.name, return_state=True)
        return state, await checked.runs("c")

    state, runs = asyncio.run(scenario())
    (run,) = runs
    assert state.is_completed()
    assert state.message.endswith(f"3 condition(s) on file {checked.metrics}; 1 started, 2 clear")
    assert run.parameters["condition"]["value"] == 77


def test_the_watcher_flow_of_an_unknown_group_fails_and_says_how_to_remove_it(checked: Checked) -> None:
    from flows.conditions.watcher import condition_watcher

    state = asyncio.run(condition_watcher(group="registry-every-12345s", return_state=True))
    assert state.is_failed() and "deploy --prune" in state.message


def test_runs_of_a_condition_automation_shows_its_last_check(
    checked: Checked, prefect_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from compiler.commands.cli import main

    monkeypatch.setenv("PREFECT_API_URL", prefect_server)  # the CLI reads the environment (else it starts an embedded server)
    checked.set_metrics(a=1, b=2, c=3)
    asyncio.run(checked.check())
    capsys.readouterr()
    assert main(["--config-dir", str(checked.base / "configs" / "automations"), "runs", checked.name("b")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"last condition check {checked.group.name}@{TICK:%Y-%m-%dT%H:%M:%SZ} at ")
    assert first.endswith(": clear (value 2): $.b = 2: gt 50 does not hold")
