"""The condition watcher flow, run in this process against the session's Prefect server (no mocks)."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from compiler.commands.build import WATCHER_FLOW_NAME
from flows.conditions.watcher import condition_watcher
from tests.prefect_support import project_runtime, runs_of_deployment, using_api, wait_for

AUTOMATION = """\
trigger:
  type: condition
  condition:
    metric_path: "{path}"
    operator: {operator}
    threshold: {threshold}
    source: {{type: file, path: "{metrics}"}}
  cooldown_seconds: 3600
actions:
  - type: log_message
    name: say
    parameters: {{message: "score {{condition.value}}"}}
"""


class Watched:
    """One condition automation (unique name, file metrics source) with a bare deployment of the same name."""

    def __init__(self, base: Path, path: str = "$.metrics.score", operator: str = "lt", threshold: str = "50") -> None:
        self.name = f"watched_{uuid.uuid4().hex[:10]}"
        self.metrics = base / "metrics.json"
        folder = base / "configs" / "automations"
        folder.mkdir(parents=True)
        (base / "configs" / "chains").mkdir()
        body = AUTOMATION.format(metrics=self.metrics, path=path, operator=operator, threshold=threshold)
        (folder / f"{self.name}.yaml").write_text(f"name: {self.name}\n" + body, encoding="utf-8")

    def set_metrics(self, document: Any) -> None:
        self.metrics.write_text(json.dumps(document), encoding="utf-8")

    async def deploy(self) -> None:
        """What `prefect deploy` would create, minus the work pool: the watcher only creates runs of it."""
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            flow_id = await client.create_flow_from_name(self.name)
            await client.create_deployment(flow_id=flow_id, name=self.name)

    async def check(self) -> Any:
        return await condition_watcher(automation=self.name, return_state=True)

    async def runs(self) -> list[Any]:
        return await runs_of_deployment(f"{self.name}/{self.name}")

    @property
    def limit_name(self) -> str:
        return f"automation-cooldown-{self.name}"


@pytest.fixture
def watched(tmp_path: Path, prefect_server: str) -> Any:
    automation = Watched(tmp_path)
    with using_api(prefect_server), project_runtime(tmp_path, tmp_path / "state"):
        asyncio.run(automation.deploy())
        yield automation


async def _warnings(flow_run_id: Any) -> list[str]:
    """WARNING+ log lines the run sent to the API (they arrive in batches)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()
    async def read() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]), level=LogFilterLevel(ge_=30))
            )
        return [log.message for log in logs]

    return await wait_for(read, bool, timeout=10)


def test_watcher_flow_is_named_as_the_build_deploys_it() -> None:
    assert condition_watcher.name == WATCHER_FLOW_NAME
    assert condition_watcher.isasync


def test_condition_false_completes_without_starting_a_run(watched: Watched) -> None:
    watched.set_metrics({"metrics": {"score": 70}})

    async def scenario() -> tuple[Any, Any, list[Any]]:
        state = await watched.check()
        return state, await state.aresult(), await watched.runs()

    state, result, runs = asyncio.run(scenario())
    assert state.is_completed() and state.name == "Completed"
    assert state.message.startswith("condition does not hold: $.metrics.score = 70")
    assert result == {"fired": False, "value": 70, "reason": "$.metrics.score = 70: lt 50 does not hold", "flow_run_id": None}
    assert runs == []


@pytest.mark.parametrize(
    ("document", "why"),
    [({"metrics": {"other": 1}}, "$.metrics.score not found"), ({"metrics": {"score": "high"}}, '"high" is not a number')],
    ids=["missing-path", "non-numeric"],
)
def test_unusable_value_is_logged_as_warning_and_does_not_fire(watched: Watched, document: Any, why: str) -> None:
    watched.set_metrics(document)

    async def scenario() -> tuple[Any, list[str], list[Any]]:
        state = await watched.check()
        return state, await _warnings(state.state_details.flow_run_id), await watched.runs()

    state, warnings, runs = asyncio.run(scenario())
    assert state.is_completed() and why in state.message
    assert any(why in line for line in warnings), warnings
    assert runs == []


def test_unreachable_source_is_logged_as_warning_and_does_not_fire(watched: Watched) -> None:
    # No metrics file at all.
    async def scenario() -> tuple[Any, list[str], list[Any]]:
        state = await watched.check()
        return state, await _warnings(state.state_details.flow_run_id), await watched.runs()

    state, warnings, runs = asyncio.run(scenario())
    assert state.is_completed() and state.message.startswith("metrics unavailable: cannot read metrics file")
    assert any("metrics unavailable" in line for line in warnings), warnings
    assert runs == []


def test_condition_true_starts_a_run_with_the_check_as_trigger_data(watched: Watched) -> None:
    watched.set_metrics({"metrics": {"score": 42}})

    async def scenario() -> tuple[Any, Any, list[Any]]:
        state = await watched.check()
        return state, await state.aresult(), await watched.runs()

    state, result, runs = asyncio.run(scenario())
    (run,) = runs
    watcher_run_id = str(state.state_details.flow_run_id)
    assert state.is_completed() and state.name == "Completed"
    assert state.message == f"started {run.id}: $.metrics.score = 42: lt 50 holds"
    assert result == {"fired": True, "value": 42, "reason": "$.metrics.score = 42: lt 50 holds", "flow_run_id": str(run.id)}
    assert run.parameters == {
        "condition": {
            "metric_path": "$.metrics.score", "operator": "lt", "threshold": 50, "match": "any", "value": 42, "values": [42],
            "check_id": watcher_run_id,
        }
    }
    assert run.parent_task_run_id is None  # a run of its own, not a subflow of the watcher


def test_in_cooldown_is_skipped_without_starting_a_run(watched: Watched) -> None:
    from prefect.client.orchestration import get_client

    watched.set_metrics({"metrics": {"score": 42}})

    async def scenario() -> tuple[Any, list[Any]]:
        async with get_client() as client:  # a run of the automation just took the cooldown slot
            await client.upsert_global_concurrency_limit_by_name(watched.limit_name, 1, slot_decay_per_second=1 / 3600)
            await client.increment_concurrency_slots(names=[watched.limit_name], slots=1, mode="rate_limit")
        state = await watched.check()
        return state, await watched.runs()

    state, runs = asyncio.run(scenario())
    assert state.is_completed() and state.name == "Skipped"
    assert state.message.startswith("in cooldown (3600s after the last run)")
    assert runs == []


def test_checking_the_cooldown_does_not_take_the_slot(watched: Watched) -> None:
    from prefect.client.orchestration import get_client

    watched.set_metrics({"metrics": {"score": 42}})

    async def scenario() -> tuple[Any, Any]:
        async with get_client() as client:
            await client.upsert_global_concurrency_limit_by_name(watched.limit_name, 1, slot_decay_per_second=1 / 3600)
            state = await watched.check()
            return state, await client.read_global_concurrency_limit_by_name(watched.limit_name)

    state, limit = asyncio.run(scenario())
    assert state.message.startswith("started ")
    assert limit.active_slots == 0  # the automation run's gate takes it, atomically


def test_unknown_automation_fails_and_says_how_to_remove_the_deployment(watched: Watched) -> None:
    state = asyncio.run(condition_watcher(automation=f"{watched.name}_gone", return_state=True))
    assert state.is_failed() and "no automation" in state.message and "deploy --prune" in state.message


@pytest.fixture
def watched_text(tmp_path: Path, prefect_server: str) -> Any:
    """A condition ``$.status contains 5`` on a document that holds a string (a TypeError before)."""
    automation = Watched(tmp_path, path="$.status", operator="contains", threshold="5")
    with using_api(prefect_server), project_runtime(tmp_path, tmp_path / "state"):
        asyncio.run(automation.deploy())
        yield automation


def test_a_document_the_operator_cannot_compare_is_a_warning_not_a_failed_watcher(watched_text: Watched) -> None:
    watched_text.set_metrics({"status": "version 5 degraded"})

    async def scenario() -> tuple[Any, list[str], list[Any]]:
        state = await watched_text.check()
        return state, await _warnings(state.state_details.flow_run_id), await watched_text.runs()

    state, warnings, runs = asyncio.run(scenario())
    why = '$.status = "version 5 degraded": contains 5 does not hold: 5 is not a string'
    assert state.is_completed() and state.message.startswith(f"cannot check the condition: {why}")
    assert any(why in line for line in warnings), warnings
    assert runs == []


def test_one_unhealthy_value_among_several_matches_fires(tmp_path: Path, prefect_server: str) -> None:
    automation = Watched(tmp_path, path="$.services[*].health")
    automation.set_metrics({"services": [{"health": 90}, {"health": 20}]})
    with using_api(prefect_server), project_runtime(tmp_path, tmp_path / "state"):

        async def scenario() -> tuple[Any, list[Any]]:
            await automation.deploy()
            state = await automation.check()
            return state, await automation.runs()

        state, runs = asyncio.run(scenario())
    (run,) = runs
    assert state.message == (
        f"started {run.id}: $.services[*].health matched 2 values; any: lt 50 holds for $.services[1].health = 20"
    )
    assert (run.parameters["condition"]["value"], run.parameters["condition"]["values"]) == (20, [90, 20])


def test_a_400_digit_number_is_compared_and_handed_on_as_text(tmp_path: Path, prefect_server: str) -> None:
    automation = Watched(tmp_path, operator="gt")
    automation.metrics.write_text('{"metrics": {"score": 1' + "0" * 400 + "}}", encoding="utf-8")
    with using_api(prefect_server), project_runtime(tmp_path, tmp_path / "state"):

        async def scenario() -> tuple[Any, list[Any]]:
            await automation.deploy()
            state = await automation.check()
            return state, await automation.runs()

        state, runs = asyncio.run(scenario())
    (run,) = runs
    assert state.message == f"started {run.id}: $.metrics.score = 1.00000e+400 (401 digits): gt 50 holds"
    assert run.parameters["condition"]["value"] == "1" + "0" * 400
