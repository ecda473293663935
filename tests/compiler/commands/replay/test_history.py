"""The index only narrows: every event a trigger matches is among its candidates, in time order, and an exact
filter value leaves out events without it; condition checks are kept apart by automation."""

from __future__ import annotations

import pytest

from compiler.language.model.triggers import EventSpec
from flows.events.matching import match_event
from tests.compiler.commands.replay.support import api_event, check, group_check, history, minutes

EVENTS = [
    api_event(minutes(50), "chain_complete", {"status": "completed"}, chain_name="full_analysis"),
    api_event(minutes(10), "chain_complete", {"status": "failed"}, chain_name="full_analysis"),
    api_event(minutes(20), "chain_complete", {"status": "completed"}, chain_name="nightly_db"),
    api_event(minutes(30), "chain_failed", {"status": "failed"}, chain_name="nightly_db"),
    api_event(minutes(40), "agent_complete", {}, agent_name="PG_HEALTH"),
    api_event(minutes(45), "agent_complete", {}, agent_name="PG_DISCOVERY"),
    api_event(minutes(5), "custom", {}, custom_type="deploy.api"),
    api_event(minutes(6), "custom", {}, custom_type="deploy.web"),
    api_event(minutes(7), "custom", {}, custom_type="github.push"),
]

SPECS = [
    {"event_type": "chain_complete"},
    {"event_type": "chain_complete", "chain_name": "full_analysis"},
    {"event_type": "chain_complete", "chain_name": "full_analysis", "status": "completed"},
    {"event_type": "chain_complete", "chain_name": "nightly_*"},
    {"event_type": "chain_failed", "chain_name": "nightly_db"},
    {"event_type": "agent_complete", "agent_name": "PG_*"},
    {"event_type": "agent_complete", "agent_name": "PG_HEALTH"},
    {"event_type": "custom", "custom_type": "deploy.*"},
    {"event_type": "custom", "custom_type": "deploy.api"},
    {"event_type": "custom", "custom_type": "*"},
    {"event_type": "registry_update"},
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(str(v) for v in s.values()))
def test_every_matching_event_is_a_candidate_in_time_order(spec: dict[str, str]) -> None:
    found = history(EVENTS)
    trigger = EventSpec.model_validate(spec)
    candidates = found.candidates(trigger)
    matching = [i for i, event in enumerate(found.events) if match_event(trigger, event)[0]]
    assert set(matching) <= set(candidates) and candidates == sorted(candidates)


@pytest.mark.parametrize(
    ("spec", "count"),
    [
        ({"event_type": "chain_complete", "chain_name": "full_analysis"}, 2),
        ({"event_type": "agent_complete", "agent_name": "PG_HEALTH"}, 1),
        ({"event_type": "custom", "custom_type": "deploy.api"}, 1),
        ({"event_type": "registry_update"}, 0),
    ],
)
def test_an_exact_filter_value_narrows_the_candidates(spec: dict[str, str], count: int) -> None:
    assert len(history(EVENTS).candidates(EventSpec.model_validate(spec))) == count


def test_events_are_ordered_by_their_time_and_read_twice_kept_once() -> None:
    found = history([*EVENTS, EVENTS[0]])
    assert found.times == sorted(found.times) and len(found.events) == len(EVENTS)


def test_condition_checks_are_kept_apart_by_automation_in_time_order() -> None:
    condition = {"metric_path": "$.m", "operator": "lt", "threshold": 5}
    found = history([check(minutes(20), {"m": 1}, condition, "b"), check(minutes(10), {"m": 9}, condition, "b"), *EVENTS])
    assert [c.occurred for c in found.checks["b"]] == [minutes(10), minutes(20)]
    assert found.check_count == 2 and len(found.events) == len(EVENTS)


def test_a_group_check_is_a_check_of_each_member() -> None:
    low, high = {"metric_path": "$.m", "operator": "lt", "threshold": 5}, {"metric_path": "$.n", "operator": "gt", "threshold": 5}
    found = history([group_check(minutes(10), {"m": 1, "n": 1}, {"b": low, "c": high, "d": low})])
    assert {name: [(c.holds, c.matches) for c in checks] for name, checks in found.checks.items()} == {
        "b": [(True, (("m", 1),))], "c": [(False, (("n", 1),))], "d": [(True, (("m", 1),))]
    }
    assert found.check_count == 3


def test_a_tick_checked_twice_is_one_check() -> None:
    condition = {"metric_path": "$.m", "operator": "lt", "threshold": 5}
    # Two serve processes check the same tick: the same check id (the run it starts is one run), two events.
    found = history([check(minutes(10), {"m": 1}, condition, "b"), check(minutes(10.1), {"m": 1}, condition, "b")])
    assert [(c.check_id, c.occurred) for c in found.checks["b"]] == [("registry-every-300s@2026-11-30T00:10:00Z", minutes(10))]
