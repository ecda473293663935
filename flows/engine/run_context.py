"""The variables a run's templates can use: built-ins, context defaults, inputs, trigger data and outputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from compiler.language.model.automation import Automation

__all__ = ["Occurrence", "RunInputs", "builtin_variables", "missing_inputs", "resolve_occurrence", "template_variables"]


@dataclass(frozen=True)
class Occurrence:
    """What a run answers to; the same occurrence run twice must not repeat completed actions."""

    trigger_type: str  # event, time, condition or manual
    key: str


@dataclass(frozen=True)
class RunInputs:
    """The flow's parameters, split by role."""

    inputs: Mapping[str, Any]
    event: Mapping[str, Any] | None = None
    condition: Mapping[str, Any] | None = None
    idempotency_key: str | None = None
    scheduled_time: str | None = None

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, Any], scheduled_time: str | None = None) -> RunInputs:
        """Split the flow's parameters: the trigger's (event, condition, idempotency key) and the inputs."""
        inputs = dict(parameters)
        event, condition, key = inputs.pop("event", None), inputs.pop("condition", None), inputs.pop("idempotency_key", None)
        return cls(inputs=inputs, event=event, condition=condition, idempotency_key=key, scheduled_time=scheduled_time)


def resolve_occurrence(run: RunInputs, run_id: str) -> Occurrence:
    """Explicit key first, then the event id, the scheduled time, the condition check; else this run alone."""
    if run.event is not None:
        trigger = "event"
    elif run.condition is not None:
        trigger = "condition"
    elif run.scheduled_time is not None:
        trigger = "time"
    else:
        trigger = "manual"
    if run.idempotency_key:
        return Occurrence(trigger, f"key:{run.idempotency_key}")
    if run.event is not None and run.event.get("id"):
        return Occurrence(trigger, f"event:{run.event['id']}")
    if run.condition is not None and run.condition.get("check_id"):
        return Occurrence(trigger, f"condition:{run.condition['check_id']}")
    if run.scheduled_time is not None:
        return Occurrence(trigger, f"schedule:{run.scheduled_time}")
    return Occurrence(trigger, f"run:{run_id}")


def builtin_variables(automation: Automation, run_id: str, started: datetime, occurrence: Occurrence) -> dict[str, Any]:
    started = started.astimezone(UTC)
    return {
        "timestamp": started.strftime("%Y%m%dT%H%M%SZ"),
        "date": started.strftime("%Y-%m-%d"),
        "time": started.strftime("%H:%M:%S"),
        "datetime": started.isoformat(),
        "run_id": run_id,
        "automation_name": automation.name,
        "automation_version": automation.version,
        "trigger_type": occurrence.trigger_type,
        "occurrence": occurrence.key,
    }


def _effective_inputs(automation: Automation, input_names: tuple[str, ...], run: RunInputs) -> dict[str, Any]:
    """Inputs given to the run, else fields of the event payload of the same name, else context defaults."""
    payload = run.event.get("payload") if run.event else None
    values: dict[str, Any] = dict(automation.context)
    for name in input_names:
        if run.inputs.get(name) is not None:
            values[name] = run.inputs[name]
        elif isinstance(payload, Mapping) and payload.get(name) is not None:
            values[name] = payload[name]
    for name, value in run.inputs.items():
        if value is not None:
            values[name] = value
    return values


def missing_inputs(automation: Automation, input_names: tuple[str, ...], run: RunInputs) -> list[str]:
    values = _effective_inputs(automation, input_names, run)
    return [name for name in input_names if values.get(name) is None]


def template_variables(
    automation: Automation,
    input_names: tuple[str, ...],
    run: RunInputs,
    builtins: Mapping[str, Any],
    outputs: Mapping[str, Any],
) -> dict[str, Any]:
    """One flat mapping; built-ins win over everything so a payload cannot fake ``run_id``."""
    variables: dict[str, Any] = _effective_inputs(automation, input_names, run)
    if run.event is not None:
        variables["event"] = dict(run.event)
    if run.condition is not None:
        variables["condition"] = dict(run.condition)
    if run.scheduled_time is not None:
        variables["schedule"] = {"scheduled_time": run.scheduled_time}
    variables["outputs"] = dict(outputs)
    variables.update(builtins)
    return variables
