"""A recorded condition check holds what the check saw: the values rebuilt from its event answer the same condition
the same way as the metrics document did."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from compiler.language.model.triggers import ConditionSpec
from compiler.language.prefect_names import AUTOMATION_LABEL, CONDITION_CHECKED_EVENT
from flows.conditions.check_events import MAX_RECORDED_MATCHES, checked_event, recorded_check, recorded_document
from flows.conditions.evaluate import evaluate_condition

DOCUMENT = {
    "metrics": {"health_score": 42, "label": "api-east", "flags": ["beta", "canary"], "nested": {"x y": 3}},
    "services": [{"name": "api", "health": 90}, {"name": "db", "health": 40}, {"name": "web", "health": 75}],
}

CASES = [
    ({"metric_path": "$.metrics.health_score", "operator": "lt", "threshold": 50}, True),
    ({"metric_path": "$.metrics.health_score", "operator": "gte", "threshold": 50}, False),
    ({"metric_path": "$.services[*].health", "operator": "lt", "threshold": 50}, True),
    ({"metric_path": "$.services[*].health", "operator": "lt", "threshold": 50, "match": "all"}, False),
    ({"metric_path": "$..health", "operator": "gt", "threshold": 30, "match": "all"}, True),
    ({"metric_path": "$.metrics.label", "operator": "contains", "threshold": "east"}, True),
    ({"metric_path": "$.metrics.flags", "operator": "contains", "threshold": "canary"}, True),
    ({"metric_path": "$.metrics['nested']['x y']", "operator": "eq", "threshold": 3}, True),
    ({"metric_path": "$.metrics.missing", "operator": "exists"}, False),
    ({"metric_path": "$.services[?(@.health < 50)].health", "operator": "exists"}, True),
]


def _round_trip(spec: ConditionSpec, document: Any) -> Any:
    event = checked_event("a", spec, document, evaluate_condition(spec, document), "check-1")
    api_form = {**event, "id": "e1", "occurred": "2026-12-01T10:00:00Z"}
    return recorded_check(api_form)


@pytest.mark.parametrize(("condition", "holds"), CASES, ids=[c[0]["metric_path"] + "-" + c[0]["operator"] for c in CASES])
def test_the_rebuilt_values_answer_the_condition_as_the_document_did(condition: dict[str, Any], holds: bool) -> None:
    spec = ConditionSpec.model_validate(condition)
    recorded = _round_trip(spec, DOCUMENT)
    again = evaluate_condition(spec, recorded_document(recorded))
    original = evaluate_condition(spec, DOCUMENT)
    assert (original.fired, again.fired, recorded.holds) == (holds, holds, holds)
    assert list(again.values) == list(original.values)


def test_the_event_names_the_automation_the_condition_and_the_check() -> None:
    spec = ConditionSpec.model_validate(CASES[0][0])
    event = checked_event("health_alert", spec, DOCUMENT, evaluate_condition(spec, DOCUMENT), "run-7")
    assert (event["event"], event["resource"][AUTOMATION_LABEL]) == (CONDITION_CHECKED_EVENT, "health_alert")
    payload = event["payload"]
    assert payload["condition"] == {"metric_path": "$.metrics.health_score", "operator": "lt", "threshold": 50, "match": "any"}
    assert (payload["check_id"], payload["matches"], payload["holds"], payload["truncated"]) == (
        "run-7", [{"path": "metrics.health_score", "value": 42}], True, False
    )
    recorded = recorded_check({**event, "id": "e1", "occurred": "2026-12-01T10:00:00Z"})
    assert recorded is not None and recorded.occurred == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_a_check_matching_very_many_values_keeps_the_first_ones() -> None:
    spec = ConditionSpec.model_validate({"metric_path": "$.v[*]", "operator": "gt", "threshold": 0})
    recorded = _round_trip(spec, {"v": list(range(1, 1000))})
    assert (len(recorded.matches), recorded.truncated) == (MAX_RECORDED_MATCHES, True)


@pytest.mark.parametrize(
    "event",
    [
        {"event": "platform-god.chain.completed", "occurred": "2026-12-01T10:00:00Z", "payload": {}},
        {"event": CONDITION_CHECKED_EVENT, "occurred": "2026-12-01T10:00:00Z", "payload": {"automation": "a"}},
        {"event": CONDITION_CHECKED_EVENT, "occurred": "not a time", "payload": {"automation": "a", "condition": {}}},
    ],
    ids=["other-event", "no-condition", "bad-time"],
)
def test_other_or_malformed_events_are_no_check(event: dict[str, Any]) -> None:
    assert recorded_check(event) is None
