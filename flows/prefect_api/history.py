"""Run history read back from the Prefect API: flow runs of an automation with per-action task runs."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from flows.engine.failure_messages import plain_message

__all__ = ["ActionHistory", "RunHistory", "read_run", "read_runs"]


@dataclass
class ActionHistory:
    name: str
    status: str
    attempts: int
    duration_s: float
    message: str = ""
    summary: str = ""


@dataclass
class RunHistory:
    id: str
    automation: str
    name: str
    status: str
    message: str
    start_time: str | None
    duration_s: float
    actions: list[ActionHistory] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# Prefect 3 records task-run states from events the client sends in the background, so right after a run
# ends the API may not know every action's final state yet (reads showed "Unknown"/"Running"): wait this long.
SETTLE_SECONDS = 10.0
_SETTLE_POLL_SECONDS = 0.2


async def _actions_of(client: Any, flow_run_id: UUID, settle_seconds: float = 0.0) -> list[ActionHistory]:
    """The run's task runs; when the run has its summary artifact (it finished), wait up to
    ``settle_seconds`` until every action the summary lists has a final task-run state on the server."""
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` loads this module without reading runs
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.sorting import TaskRunSort

    deadline = time.monotonic() + settle_seconds
    while True:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=200
        )
        rows = await _summary_rows(client, flow_run_id)
        if not runs and rows and all(row.get("from_record") for row in rows):
            # A re-run answered from its completed occurrence: no task runs, the stored outcome is the record.
            return [_from_row(row) for row in rows]
        summaries = {row.get("action", ""): row.get("summary", "") for row in rows}
        final = {run.name for run in runs if run.state is not None and run.state.is_final()}
        if set(summaries) <= final or time.monotonic() >= deadline:
            break
        await asyncio.sleep(_SETTLE_POLL_SECONDS)
    actions = []
    for run in runs:
        name = run.name
        state = run.state
        actions.append(
            ActionHistory(
                name=name,
                status=state.name if state else "Unknown",
                attempts=run.run_count,
                duration_s=_duration(run),
                message=plain_message(state.message or "") if state else "",
                summary=plain_message(summaries.get(name, "")),
            )
        )
    return actions


def _from_row(row: dict[str, Any]) -> ActionHistory:
    return ActionHistory(
        name=str(row.get("action", "")),
        status=str(row.get("status", "")),
        attempts=0,
        duration_s=0.0,
        summary=plain_message(str(row.get("summary", ""))),
    )


async def _summary_rows(client: Any, flow_run_id: UUID) -> list[dict[str, Any]]:
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` loads this module without reading runs
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType

    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), type=ArtifactFilterType(any_=["table"])),
        limit=5,
    )
    for artifact in artifacts:
        data = artifact.data
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                continue
        if isinstance(data, list):
            return [row for row in data if isinstance(row, dict)]
    return []


def _duration(run: Any) -> float:
    """From the first start to the end: every try and every retry delay (``total_run_time`` counts only time
    spent Running, so 3 tries with 1 s delays read as 0.37 s)."""
    if run.start_time is not None and run.end_time is not None:
        return round(max((run.end_time - run.start_time).total_seconds(), 0.0), 3)
    return round(run.total_run_time.total_seconds(), 3)


def _history(run: Any, automation: str, actions: list[ActionHistory]) -> RunHistory:
    state = run.state
    return RunHistory(
        id=str(run.id),
        automation=automation,
        name=run.name,
        status=state.name if state else "Unknown",
        message=plain_message(state.message or "") if state else "",
        start_time=run.start_time.isoformat() if run.start_time else None,
        duration_s=_duration(run),
        actions=actions,
    )


async def read_run(flow_run_id: str | UUID, settle_seconds: float = SETTLE_SECONDS) -> RunHistory:
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` loads this module without reading runs
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(UUID(str(flow_run_id)))
        flow = await client.read_flow(run.flow_id)
        return _history(run, flow.name, await _actions_of(client, run.id, settle_seconds))


async def read_runs(automation: str | None = None, limit: int = 10, settle_seconds: float = SETTLE_SECONDS) -> list[RunHistory]:
    """Newest first; ``automation`` None means every automation flow."""
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` loads this module without reading runs
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        flow_filter = FlowFilter(name=FlowFilterName(any_=[automation])) if automation else None
        runs = await client.read_flow_runs(flow_filter=flow_filter, sort=FlowRunSort.START_TIME_DESC, limit=limit)
        flows = {f.id: f.name for f in await client.read_flows(limit=200)}
        result = []
        for run in runs:
            name = flows.get(run.flow_id, "?")
            if not automation and name.startswith("chain-"):
                continue
            result.append(_history(run, name, await _actions_of(client, run.id, settle_seconds)))
        return result
