"""The deployed version read back from the server's objects (in the shapes `plan` reads) or from its definition,
and whether the working tree differs from it."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.commands.plan.observed import ObservedState
from compiler.commands.replay.deployed import DEFINITION, NOT_DEPLOYED, SERVER, UNKNOWN, deployed_event_patterns, deployed_version, rule_key
from flows.conditions.check_events import recorded_checks
from tests.compiler.commands.replay.support import automation, check, minutes, server_with

EVENT = {"type": "event", "event": {"event_type": "chain_complete", "chain_name": "full_analysis"}, "cooldown_seconds": 600}
CUSTOM = {"type": "event", "event": {"event_type": "custom", "custom_type": "deploy?", "status": "ok"}}
TIME = {"type": "time", "time": {"cron_expression": "15 3 * * 1-5", "timezone_str": "Europe/Berlin"}, "cooldown_seconds": 60}
CONDITION = {"type": "condition", "condition": {"metric_path": "$.m", "operator": "gt", "threshold": 1, "check_interval_seconds": 60}}


def checks_of(trigger: dict[str, Any]) -> list[Any]:
    if trigger["type"] != "condition":
        return []
    return recorded_checks(check(minutes(1), {"m": 3}, trigger["condition"]))


@pytest.mark.parametrize("trigger", [EVENT, CUSTOM, TIME, CONDITION], ids=["event", "custom-glob", "time", "condition"])
def test_the_trigger_read_back_from_the_server_is_the_deployed_one(trigger: dict[str, Any]) -> None:
    loaded = automation(trigger)
    found = deployed_version(loaded, server_with(loaded), checks_of(trigger))
    assert (found.source, found.changed) == (SERVER, False)
    assert found.loaded is not None and rule_key(found.loaded) == rule_key(loaded)


EDITS = [
    ("event-filter", EVENT, {**EVENT, "event": {"event_type": "chain_complete", "chain_name": "nightly_*"}}),
    ("event-cooldown", EVENT, {**EVENT, "cooldown_seconds": 900}),
    ("event-type", EVENT, {**EVENT, "event": {"event_type": "chain_failed"}}),
    ("cron", TIME, {**TIME, "time": {"cron_expression": "0 4 * * *", "timezone_str": "Europe/Berlin"}}),
    ("timezone", TIME, {**TIME, "time": {"cron_expression": "15 3 * * 1-5", "timezone_str": "UTC"}}),
    ("threshold", CONDITION, {"type": "condition", "condition": {**CONDITION["condition"], "threshold": 2}}),
    ("trigger-type", EVENT, TIME),
]


@pytest.mark.parametrize(("deployed", "working"), [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_an_edited_trigger_differs_from_the_deployed_one(deployed: dict[str, Any], working: dict[str, Any]) -> None:
    before = automation(deployed)
    found = deployed_version(automation(working), server_with(before), checks_of(deployed))
    assert (found.source, found.changed) == (SERVER, True)
    assert found.loaded is not None and rule_key(found.loaded) == rule_key(before)


@pytest.mark.parametrize("trigger", [TIME, {**CONDITION, "cooldown_seconds": 300}], ids=["time", "condition"])
def test_a_cooldown_limit_not_created_yet_is_no_change(trigger: dict[str, Any]) -> None:
    """``serve`` and plain ``prefect deploy`` leave the cooldown limit to the first run."""
    loaded = automation(trigger)
    observed = server_with(loaded)
    observed.limits.clear()
    found = deployed_version(loaded, observed, checks_of(trigger))
    assert (found.source, found.changed) == (SERVER, False)
    assert any("its cooldown is not on the server yet" in note for note in found.notes), found.notes


@pytest.mark.parametrize(
    ("actions", "changed"),
    [(None, False), ([{"type": "log_message", "name": "say", "parameters": {"message": "bye"}}], True)],
    ids=["same", "action-parameter"],
)
def test_a_readable_definition_is_the_deployed_version_actions_included(actions: Any, changed: bool) -> None:
    deployed = automation(EVENT)
    found = deployed_version(automation(EVENT, actions), server_with(deployed, definition=True), [])
    assert (found.source, found.changed) == (DEFINITION, changed)
    assert found.loaded is not None and rule_key(found.loaded) == rule_key(deployed)


@pytest.mark.parametrize(
    ("observed", "checks", "source", "note"),
    [
        (ObservedState(), [], NOT_DEPLOYED, None),
        (server_with(automation(CONDITION)), [], UNKNOWN, "no check recorded in the window names its condition"),
    ],
    ids=["not-deployed", "condition-without-checks"],
)
def test_a_deployed_version_that_cannot_be_read_says_why(observed: ObservedState, checks: list[Any], source: str, note: str | None) -> None:
    found = deployed_version(automation(CONDITION), observed, checks)
    assert (found.source, found.loaded, found.changed) == (source, None, True)
    assert note is None or any(note in n for n in found.notes)


@pytest.mark.parametrize(
    ("trigger", "patterns"),
    [(EVENT, ["platform-god.chain.completed"]), (CUSTOM, ["platform-god.custom.*"]), (TIME, []), (CONDITION, ["platform-god.condition.checked"])],
    ids=["event", "custom-glob", "time", "condition"],
)
def test_the_deployed_version_listens_to_the_events_of_its_trigger(trigger: dict[str, Any], patterns: list[str]) -> None:
    assert deployed_event_patterns("a", server_with(automation(trigger))) == patterns
