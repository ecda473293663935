"""The spec's model names as views: enums carry the language's own values, views read the compiler's models."""

from __future__ import annotations

from typing import get_args

import pytest

from compiler.language.model.triggers import EventType as LanguageEventType
from compiler.language.model.triggers import Operator
from flows.actions import ACTION_TYPES
from flows.prefect_api.history import ActionHistory, RunHistory
from platform_god.automations import (
    ActionType,
    AutomationDefinition,
    AutomationStatus,
    ConditionOperator,
    EventType,
    RunStatus,
    TriggerType,
)
from platform_god.automations.models import AutomationRun

ENUMS = [
    (AutomationStatus, ["enabled", "disabled"]),
    (TriggerType, ["event", "time", "condition"]),
    (EventType, list(get_args(LanguageEventType))),
    (ConditionOperator, list(get_args(Operator))),
    (ActionType, list(ACTION_TYPES)),
]


@pytest.mark.parametrize(("enum", "values"), ENUMS, ids=[e.__name__ for e, _ in ENUMS])
def test_enum_values_are_the_language_values(enum: type, values: list[str]) -> None:
    assert [member.value for member in enum] == values


@pytest.mark.parametrize(
    ("state_name", "status"),
    [
        ("Completed", RunStatus.COMPLETED),
        ("Skipped", RunStatus.SKIPPED),
        ("Cached", RunStatus.CACHED),
        ("Failed", RunStatus.FAILED),
        ("TimedOut", RunStatus.TIMED_OUT),
        ("Crashed", RunStatus.CRASHED),
        ("AwaitingRetry", RunStatus.AWAITING_RETRY),
        ("AwaitingConcurrencySlot", RunStatus.AWAITING_CONCURRENCY_SLOT),
        ("Running", RunStatus.RUNNING),
        ("Unknown", RunStatus.UNKNOWN),
        ("SomethingPrefectAddsLater", RunStatus.UNKNOWN),
        (None, RunStatus.UNKNOWN),
    ],
)
def test_run_status_from_prefect_state_name(state_name: str | None, status: RunStatus) -> None:
    assert RunStatus.from_state_name(state_name) is status


@pytest.mark.parametrize(
    ("status", "succeeded", "final"),
    [
        (RunStatus.COMPLETED, True, True),
        (RunStatus.SKIPPED, True, True),
        (RunStatus.CACHED, True, True),
        (RunStatus.FAILED, False, True),
        (RunStatus.CRASHED, False, True),
        (RunStatus.RUNNING, False, False),
        (RunStatus.SCHEDULED, False, False),
    ],
)
def test_run_status_outcome(status: RunStatus, succeeded: bool, final: bool) -> None:
    assert (status.succeeded, status.is_final) == (succeeded, final)


def test_status_value_and_text_are_the_plain_value() -> None:
    assert (RunStatus.TIMED_OUT.value, f"{RunStatus.TIMED_OUT}", RunStatus.TIMED_OUT == "timed_out") == ("timed_out", "timed_out", True)


AUTOMATION = {
    "name": "view_example",
    "status": "disabled",
    "tags": ["a"],
    "context": {"repository_root": "."},
    "trigger": {"type": "condition", "condition": {"metric_path": "$.metrics.x", "operator": "lt", "threshold": 5}, "cooldown_seconds": 60},
    "actions": [
        {"type": "log_message", "name": "say", "parameters": {"message": "x is {condition.value} in {repository_root}"}, "retry_count": 2},
        {"type": "http_request", "name": "call", "parameters": {"url": "https://example.invalid/{who}"}},
    ],
}


@pytest.fixture(scope="module")
def definition() -> AutomationDefinition:
    return AutomationDefinition.from_dict(AUTOMATION)


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda d: d.id, "view_example"),
        (lambda d: d.name, "view_example"),
        (lambda d: d.status, AutomationStatus.DISABLED),
        (lambda d: d.enabled, False),
        (lambda d: d.tags, ["a"]),
        (lambda d: d.context, {"repository_root": "."}),
        (lambda d: d.inputs, ("who",)),  # repository_root has a context default
        (lambda d: d.trigger.type, TriggerType.CONDITION),
        (lambda d: d.trigger.cooldown_seconds, 60),
        (lambda d: d.trigger.condition.operator, "lt"),
        (lambda d: d.trigger.event_type, None),
        (lambda d: [a.type for a in d.actions], [ActionType.LOG_MESSAGE, ActionType.HTTP_REQUEST]),
        (lambda d: [a.name for a in d.actions], ["say", "call"]),
        (lambda d: d.actions[0].retry_count, 2),
        (lambda d: d.actions[0].parameters, {"message": "x is {condition.value} in {repository_root}", "level": "info"}),
        (lambda d: d.to_dict()["trigger"]["condition"]["check_interval_seconds"], 300),
    ],
)
def test_definition_view_reads_the_compiled_model(definition: AutomationDefinition, read: object, expected: object) -> None:
    assert read(definition) == expected  # type: ignore[operator]


def test_an_invalid_definition_names_every_problem() -> None:
    from platform_god.automations import AutomationError

    with pytest.raises(AutomationError) as caught:
        AutomationDefinition.from_dict({"name": "Bad Name", "trigger": {"type": "event"}, "actions": []})
    assert [d.field for d in caught.value.diagnostics] == ["name", "trigger.event", "actions"]


def test_run_view_maps_prefect_history() -> None:
    history = RunHistory(
        id="1f0c", automation="demo", name="brave-fox", status="Failed", message="action 'b' failed: boom",
        start_time="2026-01-02T03:04:05+00:00", duration_s=1.5,
        actions=[ActionHistory("a", "Completed", 1, 0.2), ActionHistory("b", "TimedOut", 3, 1.0, "took too long", "timeout")],
    )
    run = AutomationRun.from_history(history)
    assert (run.run_id, run.automation_id, run.status, run.flow_run_name) == ("1f0c", "demo", RunStatus.FAILED, "brave-fox")
    assert run.started_at.year == 2026
    assert [(e.action_name, e.status, e.attempts, e.message) for e in run.action_executions] == [
        ("a", RunStatus.COMPLETED, 1, ""),
        ("b", RunStatus.TIMED_OUT, 3, "took too long"),
    ]
