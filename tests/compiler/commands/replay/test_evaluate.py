"""One automation replayed on a window: what fires, what the cooldown suppresses, what the first firings render."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from compiler.commands.replay.evaluate import replay_automation
from compiler.commands.replay.history import History
from compiler.commands.replay.window import Window
from tests.compiler.commands.replay.support import api_event, automation, check, history, minutes

CHAIN = {"type": "event", "event": {"event_type": "chain_complete", "chain_name": "full_analysis"}}
HEALTH = {"metric_path": "$.metrics.health_score", "operator": "lt", "threshold": 50}


def _fired_minutes(outcome: Any) -> list[float]:
    return [(f.at - minutes(0)).total_seconds() / 60 for f in outcome.firings]


# --- event triggers -----------------------------------------------------------------------------------------

EVENT_CASES = [
    # (id, trigger, events as (minute, kind, labels), fired minutes, suppressed)
    (
        "every-match-fires", CHAIN,
        [(1, "chain_complete", {"chain_name": "full_analysis"}), (2, "chain_complete", {"chain_name": "full_analysis"})], [1, 2], 0,
    ),
    ("other-label-value", CHAIN, [(1, "chain_complete", {"chain_name": "other"})], [], 0),
    ("other-event-name", CHAIN, [(1, "chain_failed", {"chain_name": "full_analysis"})], [], 0),
    ("glob-filter", {"type": "event", "event": {"event_type": "chain_complete", "chain_name": "nightly_*"}},
     [(1, "chain_complete", {"chain_name": "nightly_db"}), (2, "chain_complete", {"chain_name": "full_analysis"})], [1], 0),
    ("cooldown-suppresses", {**CHAIN, "cooldown_seconds": 600},
     [(0, "chain_complete", {"chain_name": "full_analysis"}), (5, "chain_complete", {"chain_name": "full_analysis"}),
      (9.99, "chain_complete", {"chain_name": "full_analysis"}), (10, "chain_complete", {"chain_name": "full_analysis"}),
      (15, "chain_complete", {"chain_name": "full_analysis"})], [0, 10], 3),
    ("cooldown-from-the-last-firing-not-the-last-event", {**CHAIN, "cooldown_seconds": 60},
     [(0, "chain_complete", {"chain_name": "full_analysis"}), (0.5, "chain_complete", {"chain_name": "full_analysis"}),
      (1.5, "chain_complete", {"chain_name": "full_analysis"})], [0, 1.5], 1),
    ("custom-glob", {"type": "event", "event": {"event_type": "custom", "custom_type": "deploy.*"}},
     [(1, "custom", {"custom_type": "deploy.api"}), (2, "custom", {"custom_type": "github.push"})], [1], 0),
    ("status-filter", {"type": "event", "event": {"event_type": "chain_complete", "status": "failed"}},
     [(1, "chain_complete", {"chain_name": "x", "status": "failed"}), (2, "chain_complete", {"chain_name": "x", "status": "completed"})], [1], 0),
]


@pytest.mark.parametrize(("trigger", "events", "fired", "suppressed"), [c[1:] for c in EVENT_CASES], ids=[c[0] for c in EVENT_CASES])
def test_event_triggers_fire_on_matching_events_outside_the_cooldown(
    trigger: dict[str, Any], events: list[tuple[float, str, dict[str, str]]], fired: list[float], suppressed: int
) -> None:
    recorded = [
        api_event(minutes(m), kind, {"status": labels["status"]} if "status" in labels else {}, **{k: v for k, v in labels.items() if k != "status"})
        for m, kind, labels in events
    ]
    outcome = replay_automation(automation(trigger), history(recorded))
    assert (_fired_minutes(outcome), outcome.suppressed) == (fired, suppressed)


def test_an_event_firing_renders_the_parameters_its_run_would_get() -> None:
    actions = [
        {"type": "log_message", "name": "say", "parameters": {"message": "{event.payload.chain_name} {event.payload.status} at {event.occurred}"}},
        {
            "type": "http_request",
            "name": "call",
            "parameters": {"url": "https://example.com/x", "headers": {"Authorization": "Bearer {secret:token}"}},
        },
        {"type": "log_message", "name": "after", "parameters": {"message": "{outputs.call.status_code}"}},
    ]
    event = api_event(minutes(3), "chain_complete", {"chain_name": "full_analysis", "status": "completed"}, chain_name="full_analysis")
    (shown,) = replay_automation(automation(CHAIN, actions), history([event])).shown
    say, call, after = shown.actions
    assert shown.key == f"event:{event['id']}" and shown.trigger["event"]["id"] == event["id"]
    assert say["parameters"]["message"] == "full_analysis completed at 2026-11-30T00:03:00+00:00"
    assert call["parameters"]["headers"] == {"Authorization": "Bearer {secret:token}"}  # never resolved
    assert (after["status"], after["parameters"]["message"]) == ("unknown", "{outputs.call.status_code}")


@pytest.mark.parametrize(("shown", "expected"), [(0, 0), (2, 2), (3, 3), (10, 5)])
def test_only_the_first_firings_are_rendered(shown: int, expected: int) -> None:
    events = [api_event(minutes(m), chain_name="full_analysis") for m in range(5)]
    outcome = replay_automation(automation(CHAIN), history(events), shown=shown)
    assert (outcome.count, [s.at for s in outcome.shown]) == (5, [minutes(m) for m in range(expected)])


@pytest.mark.parametrize(
    ("context", "payload", "failing"),
    [({}, {}, 2), ({"repository_root": "."}, {}, 0), ({}, {"repository_root": "/srv"}, 0)],
)
def test_a_firing_whose_input_is_missing_counts_as_a_failing_run(context: dict[str, str], payload: dict[str, str], failing: int) -> None:
    actions = [{"type": "log_message", "name": "say", "parameters": {"message": "{repository_root}"}}]
    events = [api_event(minutes(m), "chain_complete", payload, chain_name="full_analysis") for m in (1, 2)]
    outcome = replay_automation(automation(CHAIN, actions, context=context), history(events))
    assert (outcome.count, outcome.failing) == (2, failing)


def test_a_disabled_automation_fires_nothing() -> None:
    outcome = replay_automation(automation(CHAIN, status="disabled"), history([api_event(minutes(1), chain_name="full_analysis")]))
    assert (outcome.count, outcome.notes) == (0, ["disabled: not deployed, so it would not run"])


# --- time triggers: the server's cron dates ------------------------------------------------------------------


def _window(start: str, hours: float) -> History:
    since = datetime.fromisoformat(start).replace(tzinfo=UTC)
    return History.build(Window(since, since + timedelta(hours=hours)), [])


TIME_CASES = [
    # (id, cron, timezone, cooldown, window start (UTC), hours, fired (UTC, HH:MM or date), suppressed)
    ("every-15-min", "*/15 * * * *", "UTC", 0, "2026-11-30T00:00", 1, ["00:00", "00:15", "00:30", "00:45", "01:00"], 0),
    ("daily-in-berlin", "0 2 * * *", "Europe/Berlin", 0, "2026-11-30T00:00", 48, ["01:00", "01:00"], 0),
    ("cooldown-skips-close-runs", "*/15 * * * *", "UTC", 1800, "2026-11-30T00:00", 1, ["00:00", "00:30", "01:00"], 2),
    # Prefect's scheduler, not croniter: 02:30 on spring-forward day runs at 03:30 local, once on fall-back day.
    ("dst-spring-forward", "30 2 * * *", "Europe/Berlin", 0, "2026-03-28T12:00", 24, ["2026-03-29T01:30"], 0),
    ("dst-fall-back-once", "30 2 * * *", "Europe/Berlin", 0, "2026-10-24T12:00", 24, ["2026-10-25T00:30"], 0),
]


@pytest.mark.parametrize(
    ("cron", "zone", "cooldown", "start", "hours", "fired", "suppressed"), [c[1:] for c in TIME_CASES], ids=[c[0] for c in TIME_CASES]
)
def test_time_triggers_fire_at_the_servers_cron_dates(
    cron: str, zone: str, cooldown: int, start: str, hours: float, fired: list[str], suppressed: int
) -> None:
    trigger = {"type": "time", "time": {"cron_expression": cron, "timezone_str": zone}, "cooldown_seconds": cooldown}
    outcome = replay_automation(automation(trigger), _window(start, hours))
    shown = [f.at.strftime("%H:%M") if len(fired[0]) == 5 else f.at.strftime("%Y-%m-%dT%H:%M") for f in outcome.firings]
    assert (shown, outcome.suppressed) == (fired, suppressed)


def test_a_scheduled_firing_renders_its_scheduled_time() -> None:
    actions = [{"type": "log_message", "name": "say", "parameters": {"message": "{schedule.scheduled_time} {date}"}}]
    trigger = {"type": "time", "time": {"cron_expression": "0 2 * * *", "timezone_str": "UTC"}}
    (shown,) = replay_automation(automation(trigger, actions), _window("2026-11-30T00:00", 24)).shown
    assert shown.actions[0]["parameters"]["message"] == "2026-11-30T02:00:00+00:00 2026-11-30"
    assert shown.key == "schedule:2026-11-30T02:00:00+00:00"


# --- condition triggers: the recorded values checked against the new condition --------------------------------

CONDITION_CASES = [
    # (id, condition checked then, the working tree's condition, recorded values by minute, fired minutes)
    ("same-condition", HEALTH, HEALTH, [(0, 60), (5, 45), (10, 49), (15, 55)], [5, 10]),
    ("lower-threshold", HEALTH, {**HEALTH, "threshold": 47}, [(0, 60), (5, 45), (10, 49), (15, 55)], [5]),
    ("raised-threshold", HEALTH, {**HEALTH, "threshold": 58}, [(0, 60), (5, 45), (10, 49), (15, 55)], [5, 10, 15]),
    ("other-operator", HEALTH, {**HEALTH, "operator": "gte", "threshold": 55}, [(0, 60), (5, 45), (15, 55)], [0, 15]),
    ("other-path-not-replayed", HEALTH, {**HEALTH, "metric_path": "$.metrics.coverage"}, [(0, 10)], []),
]


@pytest.mark.parametrize(("then", "now", "values", "fired"), [c[1:] for c in CONDITION_CASES], ids=[c[0] for c in CONDITION_CASES])
def test_condition_triggers_check_the_recorded_values(
    then: dict[str, Any], now: dict[str, Any], values: list[tuple[int, Any]], fired: list[float]
) -> None:
    checks = [check(minutes(m), {"metrics": {"health_score": v}}, then) for m, v in values]
    outcome = replay_automation(automation({"type": "condition", "condition": now}), history(checks))
    assert _fired_minutes(outcome) == fired


@pytest.mark.parametrize(
    ("match", "values", "fires"),
    [("any", [90, 40, 80], True), ("all", [90, 40, 80], False), ("all", [40, 30], True), ("any", [90, 80], False)],
)
def test_several_recorded_values_are_checked_with_the_match_mode(match: str, values: list[int], fires: bool) -> None:
    then = {"metric_path": "$.services[*].health", "operator": "lt", "threshold": 50}
    document = {"services": [{"name": f"s{i}", "health": v} for i, v in enumerate(values)]}
    recorded = history([check(minutes(1), document, then)])
    outcome = replay_automation(automation({"type": "condition", "condition": {**then, "match": match}}), recorded)
    assert outcome.count == (1 if fires else 0)


def test_a_condition_firing_renders_the_recorded_value_and_the_new_threshold() -> None:
    actions = [{"type": "log_message", "name": "say", "parameters": {"message": "{condition.value} below {condition.threshold}"}}]
    recorded = check(minutes(1), {"metrics": {"health_score": 42}}, HEALTH)
    (shown,) = replay_automation(automation({"type": "condition", "condition": {**HEALTH, "threshold": 45}}, actions), history([recorded])).shown
    assert shown.actions[0]["parameters"]["message"] == "42 below 45"
    assert shown.key == f"condition:{recorded['payload']['check_id']}"


def test_condition_cooldown_suppresses_checks_that_hold_within_it() -> None:
    checks = [check(minutes(m), {"metrics": {"health_score": 10}}, HEALTH) for m in (0, 5, 10, 60, 65)]
    outcome = replay_automation(automation({"type": "condition", "condition": HEALTH, "cooldown_seconds": 3600}), history(checks, hours=2))
    assert (_fired_minutes(outcome), outcome.suppressed) == ([0, 60], 3)


@pytest.mark.parametrize(
    ("checks", "note"),
    [
        ([], "no condition check recorded in the window"),
        ([check(minutes(1), {"metrics": {"coverage": 3}}, {**HEALTH, "metric_path": "$.metrics.coverage"})],
         "1 check(s) recorded the values of $.metrics.coverage, not of $.metrics.health_score: not replayed"),
    ],
)
def test_checks_that_cannot_answer_the_condition_are_said(checks: list[dict[str, Any]], note: str) -> None:
    outcome = replay_automation(automation({"type": "condition", "condition": HEALTH}), history(checks))
    assert len(outcome.notes) == 1 and outcome.notes[0].startswith(note)
