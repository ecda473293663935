"""The audit trail of a run: a Prefect table artifact listing every action's status, attempts and duration."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from flows.run_context import Occurrence

__all__ = ["publish_summary", "summary_key"]


def summary_key(automation: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", f"{automation}-run-summary".lower()).strip("-")


async def publish_summary(automation: str, occurrence: Occurrence, records: Sequence[Any]) -> None:
    from prefect.artifacts import acreate_table_artifact

    rows = [
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
    await acreate_table_artifact(
        table=rows, key=summary_key(automation), description=f"{automation} — {occurrence.trigger_type} {occurrence.key}"
    )
