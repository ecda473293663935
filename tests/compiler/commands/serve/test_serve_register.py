"""serve's bulk registration of a few hundred automations on the session's real Prefect server: what it writes
the first time, that a restart writes nothing, that one change writes one deployment (counts and structure,
never time: speed is benchmark P13's)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from compiler.language.catalog import load_catalog
from tests.prefect_support import using_api, wait_for

PER_KIND = 67  # x 3 trigger kinds: "a few hundred" automations
LOG = "actions:\n  - type: log_message\n    name: say\n    parameters: {message: hi}\n"
BODIES = {
    "event": "trigger:\n  type: event\n  event: {event_type: custom, custom_type: reg-%(i)s}\n  cooldown_seconds: 60\n",
    "cron": "overlap: queue\ntrigger:\n  type: time\n  time: {cron_expression: '%(i)s 3 * * *', timezone_str: UTC}\n",
    "cond": "trigger:\n  type: condition\n  condition: {metric_path: $.m, operator: gt, threshold: %(i)s, check_interval_seconds: 60}\n",
}


def _write(folder: Path, tag: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for kind, body in BODIES.items():
        for i in range(PER_KIND):
            name = f"{tag}_{kind}_{i:03d}"
            (folder / f"{name}.yaml").write_text(f"name: {name}\n" + body % {"i": i % 60} + LOG, encoding="utf-8")


async def _ours(tag: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    found: list[Any] = []
    async with get_client() as client:
        while True:
            page = await client.read_deployments(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(like_=tag)), limit=200, offset=len(found)
            )
            found.extend(page)
            if len(page) < 200:
                return found


async def _owned_automations(deployments: list[Any]) -> dict[str, int]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return {d.name: len(await client.read_resource_related_automations(f"prefect.deployment.{d.id}")) for d in deployments}


async def _scheduled_runs(deployments: list[Any]) -> dict[str, int]:
    """Scheduled runs the server pre-created, per deployment name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    names = {d.id: d.name for d in deployments}
    counts = dict.fromkeys(names.values(), 0)
    async with get_client() as client:
        runs: list[Any] = []
        while True:
            page = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(names))),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                limit=200, offset=len(runs),
            )
            runs.extend(page)
            if len(page) < 200:
                break
    for run in runs:
        counts[names[run.deployment_id]] += 1
    return counts


async def _served_watcher(name: str) -> None:
    """A watcher deployment as serve made one per condition automation before checks were batched."""
    from prefect.client.orchestration import get_client

    from compiler.commands.build import WATCHER_ENTRYPOINT

    async with get_client() as client:
        flow_id = await client.create_flow_from_name("condition-watcher")
        await client.create_deployment(
            flow_id=flow_id, name=name, entrypoint=WATCHER_ENTRYPOINT, tags=["platform-god"], parameters={"automation": name}
        )


@pytest.fixture(scope="module")
def registered(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A few hundred automations registered twice (a start and a restart), then with one of them changed."""
    from compiler.commands.serve.register import register_for_serving

    tag = f"reg{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("serve-register") / "automations"
    _write(folder, tag)
    with using_api(prefect_server):
        asyncio.run(_served_watcher(f"{tag}_old-condition-watcher"))
        first = asyncio.run(register_for_serving(load_catalog(folder)))
        deployments = asyncio.run(_ours(tag))
        owned = asyncio.run(_owned_automations(deployments))
        scheduled = asyncio.run(wait_for(lambda: _scheduled_runs(deployments), lambda runs: all(runs[n] for n in runs if "_cron_" in n), timeout=180))
        again = asyncio.run(register_for_serving(load_catalog(folder)))
        changed = folder / f"{tag}_cron_005.yaml"
        changed.write_text(changed.read_text(encoding="utf-8").replace("'5 3 * * *'", "'5 4 * * *'"), encoding="utf-8")
        after_change = asyncio.run(register_for_serving(load_catalog(folder)))
        yield {"tag": tag, "first": first, "deployments": deployments, "owned": owned, "again": again, "after_change": after_change,
               "scheduled": scheduled}


def test_the_first_start_creates_one_deployment_per_automation_and_no_watcher(registered: dict[str, Any]) -> None:
    first, tag = registered["first"], registered["tag"]
    assert (first.created, first.updated, first.unchanged) == (3 * PER_KIND, 0, 0)
    names = sorted(d.name for d in registered["deployments"])
    assert names == sorted(f"{tag}_{kind}_{i:03d}" for kind in BODIES for i in range(PER_KIND))  # the old watcher is gone
    assert {d.work_pool_name for d in registered["deployments"]} == {None}
    assert sorted(first.ids) == names and len(set(first.ids.values())) == len(names)


def test_the_removed_watcher_is_counted(registered: dict[str, Any]) -> None:
    assert registered["first"].removed >= 1 and registered["again"].removed == 0


def test_each_event_automation_has_exactly_its_trigger(registered: dict[str, Any]) -> None:
    counts = {name.split("_")[1]: set() for name in registered["owned"]}
    for name, count in registered["owned"].items():
        counts[name.split("_")[1]].add(count)
    assert counts == {"event": {1}, "cron": {0}, "cond": {0}}


def test_a_restart_with_nothing_changed_writes_nothing(registered: dict[str, Any]) -> None:
    again = registered["again"]
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3 * PER_KIND)
    assert again.ids == registered["first"].ids


def test_one_changed_automation_is_one_write(registered: dict[str, Any]) -> None:
    after = registered["after_change"]
    assert (after.created, after.updated, after.unchanged) == (0, 1, 3 * PER_KIND - 1)


def test_flows_are_built_only_when_used(registered: dict[str, Any]) -> None:
    from compiler.commands.serve.register import LazyFlows

    flows = LazyFlows(registered["first"].automations)
    some = next(iter(flows))
    assert flows.name(some) == registered["first"].automations[some].automation.name
    assert flows._built == {}  # naming it built nothing
    assert flows[some].name == flows.name(some) and list(flows._built) == [some]


def test_the_server_pre_creates_runs_only_for_cron_automations_and_few_of_them(registered: dict[str, Any]) -> None:
    """What the server does per deployment stays bounded: no interval watcher filling a 100-run window, a few
    runs ahead per cron schedule (Prefect's minimum of 3 within its hour), none for event or condition ones."""
    by_kind: dict[str, set[int]] = {}
    for name, count in registered["scheduled"].items():
        by_kind.setdefault(name.split("_")[1], set()).add(count)
    assert by_kind["event"] == {0} and by_kind["cond"] == {0}
    assert by_kind["cron"] and max(by_kind["cron"]) <= 5 and min(by_kind["cron"]) >= 1
