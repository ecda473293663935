"""A recorded group check holds what the check saw: read back as one check per member, the values rebuilt from its
event answer each member's condition the same way as the metrics document did; the previous release's
per-automation events are still read."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from compiler.language.model.triggers import ConditionSpec
from compiler.language.prefect_names import CONDITION_CHECKED_EVENT, CONDITION_GROUP_LABEL
from flows.conditions.check_events import MAX_RECORDED_MATCHES, group_checked_events, recorded_checks, recorded_document
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
SPECS = [ConditionSpec.model_validate(condition) for condition, _ in CASES]
NAMES = [f"a{i}" for i in range(len(CASES))]


def _checked(specs: list[ConditionSpec], document: Any, names: list[str] | None = None) -> list[tuple[str, ConditionSpec, bool]]:
    return [(name, spec, evaluate_condition(spec, document).fired) for name, spec in zip(names or NAMES[: len(specs)], specs, strict=True)]


def _api_form(event: dict[str, Any], event_id: str = "e1") -> dict[str, Any]:
    """As ``/events/filter`` returns it."""
    return {**event, "id": event_id, "occurred": "2026-12-01T10:00:00Z"}


def _read_back(specs: list[ConditionSpec], document: Any, **kwargs: Any) -> list[Any]:
    events = group_checked_events("g-every-60s", 60, "g-every-60s@2026-12-01T10:00:00Z", _checked(specs, document), document, **kwargs)
    return [check for i, event in enumerate(events) for check in recorded_checks(_api_form(event, f"e{i}"))]


def test_one_group_check_of_every_case_is_one_event() -> None:
    events = group_checked_events("g-every-60s", 60, "g@t", _checked(SPECS, DOCUMENT), DOCUMENT)
    assert [(e["event"], e["resource"][CONDITION_GROUP_LABEL], len(e["payload"]["members"])) for e in events] == [
        (CONDITION_CHECKED_EVENT, "g-every-60s", len(CASES))
    ]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0]["metric_path"] + "-" + c[0]["operator"] for c in CASES])
def test_the_rebuilt_values_answer_each_members_condition_as_the_document_did(index: int) -> None:
    recorded = {check.automation: check for check in _read_back(SPECS, DOCUMENT)}[NAMES[index]]
    spec, holds = SPECS[index], CASES[index][1]
    again = evaluate_condition(spec, recorded_document(recorded))
    original = evaluate_condition(spec, DOCUMENT)
    assert (original.fired, again.fired, recorded.holds) == (holds, holds, holds)
    assert list(again.values) == list(original.values)


HEALTH = {"metric_path": "$.metrics.health_score", "threshold": 50, "match": "any"}


def test_the_event_names_the_group_the_check_every_members_condition_and_each_path_once() -> None:
    same_path = [SPECS[0], SPECS[1]]  # two members reading one path: its values are recorded once
    (event,) = group_checked_events("g-every-60s", 60, "g@t", _checked(same_path, DOCUMENT, ["low", "high"]), DOCUMENT)
    assert event["payload"] == {
        "group": "g-every-60s",
        "interval_seconds": 60,
        "check_id": "g@t",
        "members": [
            {"automation": "low", "condition": {**HEALTH, "operator": "lt"}, "holds": True},
            {"automation": "high", "condition": {**HEALTH, "operator": "gte"}, "holds": False},
        ],
        "matches": {"$.metrics.health_score": [{"path": "metrics.health_score", "value": 42}]},
        "truncated": [],
    }
    first, second = recorded_checks(_api_form(event))
    assert (first.occurred, first.check_id, first.group, first.interval_seconds) == (datetime(2026, 12, 1, 10, tzinfo=UTC), "g@t", "g-every-60s", 60)
    assert first.matches is second.matches  # one document rebuilt for both


def test_a_path_matching_very_many_values_keeps_the_first_ones() -> None:
    spec = ConditionSpec.model_validate({"metric_path": "$.v[*]", "operator": "gt", "threshold": 0})
    (recorded,) = _read_back([spec], {"v": list(range(1, 1000))})
    assert (len(recorded.matches), recorded.truncated) == (MAX_RECORDED_MATCHES, True)


def _whole_size() -> int:
    (event,) = group_checked_events("g-every-60s", 60, "g@t", _checked(SPECS, DOCUMENT), DOCUMENT)
    return len(json.dumps(event["payload"], separators=(",", ":")))


@pytest.mark.parametrize(("under_whole", "parts"), [(0, 1), (1, 2), (None, len(CASES))], ids=["fits", "halved", "one-member-each"])
def test_a_check_too_big_for_one_event_is_split_and_every_member_read_back(under_whole: int | None, parts: int) -> None:
    max_bytes = 1 if under_whole is None else _whole_size() - under_whole
    events = group_checked_events("g-every-60s", 60, "g@t", _checked(SPECS, DOCUMENT), DOCUMENT, max_bytes=max_bytes)
    assert len(events) == parts
    assert [e["payload"].get("part") for e in events] == ([None] if parts == 1 else [[i, parts] for i in range(1, parts + 1)])
    read = [check for i, event in enumerate(events) for check in recorded_checks(_api_form(event, f"e{i}"))]
    assert [c.automation for c in read] == NAMES


PREVIOUS_RELEASE = {  # one event per automation and check, as servers stored them before group checks
    "event": CONDITION_CHECKED_EVENT,
    "resource": {"prefect.resource.id": "platform-god.condition.health_alert", "platform-god.automation": "health_alert"},
    "payload": {
        "automation": "health_alert", "check_id": "run-7",
        "condition": {"metric_path": "$.metrics.health_score", "operator": "lt", "threshold": 50, "match": "any"},
        "matches": [{"path": "metrics.health_score", "value": 42}], "truncated": False, "holds": True,
        "reason": "$.metrics.health_score = 42: lt 50 holds",
    },
}


def test_an_event_of_the_previous_release_is_one_check() -> None:
    (recorded,) = recorded_checks(_api_form(PREVIOUS_RELEASE))
    found = (recorded.automation, recorded.check_id, recorded.holds, recorded.group, recorded.interval_seconds)
    assert found == ("health_alert", "run-7", True, "", None)
    assert recorded_document(recorded) == {"metrics": {"health_score": 42}}


GROUP = group_checked_events("g", 60, "g@t", _checked(SPECS[:2], DOCUMENT), DOCUMENT)[0]


@pytest.mark.parametrize(
    ("event", "automations"),
    [
        ({"event": "platform-god.chain.completed", "occurred": "2026-12-01T10:00:00Z", "payload": {}}, []),
        ({"event": CONDITION_CHECKED_EVENT, "occurred": "2026-12-01T10:00:00Z", "payload": {"automation": "a"}}, []),
        ({"event": CONDITION_CHECKED_EVENT, "occurred": "not a time", "payload": {"automation": "a", "condition": {}}}, []),
        ({**_api_form(GROUP), "payload": {**GROUP["payload"], "members": "a0"}}, []),
        ({**_api_form(GROUP), "payload": {**GROUP["payload"], "members": [{"automation": "a0"}, *GROUP["payload"]["members"][1:]]}}, ["a1"]),
    ],
    ids=["other-event", "no-condition", "bad-time", "members-not-a-list", "one-member-malformed"],
)
def test_other_or_malformed_events_record_no_check(event: dict[str, Any], automations: list[str]) -> None:
    assert [check.automation for check in recorded_checks(event)] == automations
