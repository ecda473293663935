"""Agent event payloads: the same small shape from an AgentResult, any object with its fields, or a mapping."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from flows.agents import AgentResult
from flows.events.publish import agent_payload

EXPECTED = {"agent_name": "PG_DISCOVERY", "status": "completed", "summary": "3 files", "duration_ms": 12, "metrics": {"files": 3}}


@dataclass
class OtherResult:
    """Another library's result type with the same field names."""

    agent_name: str
    status: str
    summary: str
    data: dict[str, Any]
    duration_ms: int


FIELDS: dict[str, Any] = {
    "agent_name": "PG_DISCOVERY",
    "status": "completed",
    "summary": "3 files",
    "data": {"metrics": {"files": 3}, "inventory": ["a"] * 1000},
    "duration_ms": 12,
}


@pytest.mark.parametrize(
    "result",
    [
        AgentResult(findings=[{"x": 1}], **FIELDS),
        OtherResult(**FIELDS),
        SimpleNamespace(**FIELDS),
        dict(FIELDS),
        {**{k: v for k, v in FIELDS.items() if k != "data"}, "metrics": {"files": 3}},
    ],
    ids=["AgentResult", "dataclass", "object", "mapping", "mapping-with-metrics"],
)
def test_agent_payload_carries_summary_and_metrics_only(result: object) -> None:
    assert agent_payload(result) == EXPECTED


def test_an_error_field_is_kept() -> None:
    assert agent_payload({"agent_name": "PG_HEALTH", "status": "failed", "error": "boom"})["error"] == "boom"


@pytest.mark.parametrize("result", [{}, object(), {"agent_name": ""}], ids=["empty-mapping", "object", "empty-name"])
def test_a_result_without_agent_name_is_refused(result: object) -> None:
    with pytest.raises(TypeError, match="agent_result needs an agent_name"):
        agent_payload(result)
