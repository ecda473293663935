"""The replay's plain lines and JSON: one headline per automation marked like `plan` (=, ~, +, ?), the first
firings rendered, what differs from the deployed version, and the summary."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from compiler.commands.plan.observed import ObservedState
from compiler.commands.replay.compare import replay_all
from compiler.commands.replay.report import Report, report_json, report_lines
from compiler.commands.replay.window import Window
from tests.compiler.commands.replay.support import T0, api_event, automation, check, history, minutes, server_with

CHAIN = {"type": "event", "event": {"event_type": "chain_complete", "chain_name": "full_analysis"}, "cooldown_seconds": 600}
WIDER = {**CHAIN, "event": {"event_type": "chain_complete", "chain_name": "full_*"}}
EVENTS = [api_event(minutes(m), chain_name=name) for m, name in ((0, "full_analysis"), (30, "full_other"), (60, "full_analysis"))]


def _report(trigger: dict[str, Any], deployed: dict[str, Any] | None) -> Report:
    working = automation(trigger)
    observed = server_with(automation(deployed)) if deployed else ObservedState()
    results = replay_all([working], history(EVENTS), observed, {"a": Counter({"Completed": 2})}, shown=1)
    return Report("http://127.0.0.1:4200/api", Window(T0, T0 + timedelta(hours=24)), results, len(EVENTS), 0)


@pytest.mark.parametrize(
    ("trigger", "deployed", "headline"),
    [
        (CHAIN, CHAIN, "  = a (event): would fire 2; deployed version: 2; runs in the window: 2 (2 Completed)"),
        (WIDER, CHAIN, "  ~ a (event): would fire 3; deployed version: 2; runs in the window: 2 (2 Completed)"),
        (CHAIN, None, "  + a (event): would fire 2; deployed version: not deployed; runs in the window: 2 (2 Completed)"),
    ],
    ids=["same", "differs", "not-deployed"],
)
def test_each_automation_has_a_headline_marked_like_plan(trigger: dict[str, Any], deployed: dict[str, Any] | None, headline: str) -> None:
    assert headline in report_lines(_report(trigger, deployed))


def test_the_lines_say_the_window_the_first_firing_and_what_differs() -> None:
    lines = report_lines(_report(WIDER, CHAIN))
    assert lines[:2] == [
        "Prefect API: http://127.0.0.1:4200/api",
        "Window: 2026-11-30T00:00:00Z .. 2026-12-01T00:00:00Z (24h): 3 event(s) and 0 condition check(s) read",
    ]
    assert "      would fire on 1 occurrence(s) the deployed version did not fire on (first 2026-11-30T00:30:00Z)" in lines
    assert any(line.startswith(f"      2026-11-30T00:00:00Z  event {EVENTS[0]['id'][:8]}  'platform-god.chain.completed' matches") for line in lines)
    assert lines[-1] == "Replay: 1 automation(s): 1 would behave differently from the deployed version, 0 the same."


def test_the_json_counts_both_sides_and_lists_what_only_one_fires_on() -> None:
    (found,) = report_json(_report(WIDER, CHAIN))["automations"]
    shown = (found["verdict"], found["changed"], found["working_tree"]["would_fire"], found["deployed"]["outcome"]["would_fire"])
    assert shown == ("differs", True, 3, 2)
    assert found["differences"]["first_only_working_tree"] == [{"time": "2026-11-30T00:30:00+00:00", "occurrence": f"event:{EVENTS[1]['id']}"}]
    assert (found["differences"]["only_deployed"], found["runs"]) == (0, {"total": 2, "states": {"Completed": 2}})


def test_a_condition_firing_names_the_group_whose_check_it_was() -> None:
    condition = {"metric_path": "$.m", "operator": "gt", "threshold": 1, "check_interval_seconds": 60}
    checks = history([check(minutes(5), {"m": 3}, condition)])
    results = replay_all([automation({"type": "condition", "condition": condition})], checks, ObservedState(), {}, shown=1)
    lines = report_lines(Report("http://127.0.0.1:4200/api", Window(T0, T0 + timedelta(hours=24)), results, 0, 1))
    assert "      2026-11-30T00:05:00Z  check registry-every-60s  $.m = 3: gt 1 holds" in lines
