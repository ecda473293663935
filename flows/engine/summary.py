"""The audit trail of a run: a Prefect table artifact listing every action's status, attempts and duration.

It is created by a flow hook once the run's final state is on the server (one API call), so it never
delays the run's completion: it was 40-50 ms inside every run before (issue 11 profile, benchmark P2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactCreate

from flows.engine.run_context import Occurrence

__all__ = ["SummaryRow", "publish_summary", "publish_summary_hook", "remember_summary", "summary_description", "summary_key", "summary_rows"]

SummaryRow = dict[str, Any]

# flow run id → (automation, description, rows): filled by the flow body, emptied by the hook.
_PENDING: dict[str, tuple[str, str, list[SummaryRow]]] = {}


def summary_key(automation: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", f"{automation}-run-summary".lower()).strip("-")


def summary_rows(records: Sequence[Any]) -> list[SummaryRow]:
    """One row per action (``ActionRecord``s); ``from_record`` marks rows answered from a completed occurrence."""
    return [
        {
            "action": r.name,
            "type": r.type,
            "status": r.status,
            "duration_ms": r.duration_ms,
            "continue_on_failure": r.continue_on_failure,
            "summary": r.summary,
        }
        for r in records
    ]


def summary_description(automation: str, occurrence: Occurrence) -> str:
    return f"{automation} — {occurrence.trigger_type} {occurrence.key}"


def remember_summary(flow_run_id: str, automation: str, occurrence: Occurrence, rows: Sequence[Mapping[str, Any]]) -> None:
    """Hand the run's rows to the hook that publishes them after the final state."""
    _PENDING[flow_run_id] = (automation, summary_description(automation, occurrence), [dict(r) for r in rows])


async def publish_summary_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow hook (completion and failure): the table artifact of this run, linked to it, in one call."""
    pending = _PENDING.pop(str(flow_run.id), None)
    if pending is None:
        return  # ended before any action (gate, missing input): nothing to list
    automation, description, rows = pending

    async with get_client() as client:
        await publish_summary(client, flow_run.id, automation, description, rows)


async def publish_summary(client: Any, flow_run_id: Any, automation: str, description: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Create the run's table artifact (one API call)."""
    await client.create_artifact(
        # Stored as Prefect's own table artifacts are: the rows as a JSON string.
        ArtifactCreate(
            key=summary_key(automation), type="table", description=description, data=json.dumps(list(rows), default=str), flow_run_id=flow_run_id
        )
    )
