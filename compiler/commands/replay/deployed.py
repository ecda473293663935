"""The deployed version of an automation, from what ``plan`` reads on the server (compiler/commands/plan/observed.py).

Best: the compiled definition the deployment's workers load (readable when their folder is readable here,
as for ``plan``). Otherwise the trigger is read back from the server's objects: the event trigger's ``expect``
and ``match``, the cron schedule, the cooldown limit's decay. A condition automation's deployment has neither
(its checks run in ``serve`` or in its group's watcher deployment, which start its runs): its condition is the one
its latest recorded check names (flows/conditions/check_events.py). Its actions are then unknown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter

from compiler.commands.plan.observed import ObservedState
from compiler.language.catalog import LoadedAutomation
from compiler.language.model.automation import automation_model
from compiler.language.model.triggers import Trigger
from compiler.language.normalize import normalized
from compiler.language.prefect_names import CONDITION_CHECKED_EVENT, EVENT_NAMES, FILTER_LABELS, cooldown_limit_name
from flows.conditions.check_events import RecordedCheck

__all__ = ["DEFINITION", "NOT_DEPLOYED", "SERVER", "UNKNOWN", "Deployed", "deployed_event_patterns", "deployed_version", "rule_key"]

# Where the deployed version came from.
DEFINITION, SERVER, NOT_DEPLOYED, UNKNOWN = "definition", "server", "not deployed", "unknown"
_CUSTOM = EVENT_NAMES["custom"]
_KINDS = {name: kind for kind, name in EVENT_NAMES.items() if kind != "custom"}


@dataclass(frozen=True)
class Deployed:
    """``loaded`` is None when nothing is deployed or the deployed trigger could not be read (``source`` says which)."""

    loaded: LoadedAutomation | None
    source: str
    changed: bool
    notes: tuple[str, ...] = ()


def rule_key(loaded: LoadedAutomation) -> tuple[Any, ...]:
    """What decides when an automation fires (trigger and cooldown): equal keys fire on the same occurrences."""
    automation = loaded.automation
    trigger = automation.trigger
    if automation.status != "enabled":
        return ("disabled",)
    if trigger.type == "event":
        data: Any = trigger.event.model_dump(exclude_none=True)
    elif trigger.type == "time":
        data = (trigger.time.cron_expression, trigger.time.timezone_str)
    else:
        spec = trigger.condition
        data = (spec.metric_path, spec.operator, json.dumps(spec.threshold, sort_keys=True), spec.match)
    return (trigger.type, json.dumps(data, sort_keys=True, default=str), trigger.cooldown_seconds)


def _cooldown(observed: ObservedState, name: str) -> int | None:
    """The deployed cooldown from its limit's decay; None without a limit: ``serve`` and plain ``prefect deploy``
    leave the limit to the automation's first run, so a limit missing says nothing about the cooldown."""
    limit = observed.limits.get(cooldown_limit_name(name))
    decay = (limit or {}).get("slot_decay_per_second") or 0
    return round(1 / decay) if decay > 0 else None


def _event_trigger(trigger: Mapping[str, Any]) -> dict[str, Any] | None:
    """The YAML event trigger a Prefect deployment trigger was built from (compiler/commands/build/deployments.py: event_trigger)."""
    expect = list(trigger.get("expect") or [])
    match = dict(trigger.get("match") or {})
    if len(expect) != 1:
        return None
    spec: dict[str, Any] = {}
    if expect[0].startswith(_CUSTOM):
        spec["event_type"] = "custom"
    elif expect[0] in _KINDS:
        spec["event_type"] = _KINDS[expect[0]]
    else:
        return None
    for field_name, label in FILTER_LABELS.items():
        if isinstance(match.get(label), str):
            spec[field_name] = match[label]
    if spec["event_type"] == "custom" and "custom_type" not in spec:
        spec["custom_type"] = expect[0][len(_CUSTOM):]
    return spec


def _server_trigger(
    loaded: LoadedAutomation, observed: ObservedState, shape: Mapping[str, Any], checks: Sequence[RecordedCheck]
) -> tuple[dict[str, Any] | None, str]:
    """The trigger (YAML form) the server's objects say is deployed, or None and why not. Without a cooldown
    limit on the server, a time or condition trigger gets the working tree's cooldown (``_cooldown``)."""
    name = loaded.automation.name
    cooldown = _cooldown(observed, name)
    for entry in (shape.get("triggers") or {}).values():
        trigger = entry.get("trigger") or {}
        if trigger.get("type") == "event":
            spec = _event_trigger(trigger)
            if spec is None:
                return None, f"its deployment trigger expects {trigger.get('expect')}, which no event trigger of ours makes"
            # the trigger's ``within`` is the cooldown too (compiler/commands/build/deployments.py: event_trigger)
            within = round(float(trigger.get("within") or 0))
            return {"type": "event", "event": spec, "cooldown_seconds": within if cooldown is None else cooldown}, ""
    if cooldown is None:
        cooldown = loaded.automation.trigger.cooldown_seconds
    for schedule in shape.get("schedules") or []:
        if "cron" in schedule:
            time = {"cron_expression": schedule["cron"], "timezone_str": schedule.get("timezone") or "UTC"}
            return {"type": "time", "time": time, "cooldown_seconds": cooldown}, ""
    # Neither: what a condition automation deploys. Its checks record the condition they checked.
    if not checks:
        return None, (
            "its deployment has no trigger or schedule (a condition automation's) and no check recorded in the window "
            "names its condition (the definition its runs load is not readable here)"
        )
    latest = checks[-1]
    recorded = dict(latest.condition)
    if latest.interval_seconds is not None:  # the previous release's per-automation events did not record it
        recorded["check_interval_seconds"] = latest.interval_seconds
    return {"type": "condition", "condition": recorded, "cooldown_seconds": cooldown}, ""


def _from_definition(data: Mapping[str, Any]) -> LoadedAutomation:
    """As flows/engine/definitions.py reads a compiled definition (lax JSON mode: 300.0 stays a valid integer field)."""
    body = dict(data)
    inputs = tuple(body.pop("inputs", ()))
    automation = automation_model().model_validate_json(json.dumps(body))
    return LoadedAutomation(automation, "<deployed definition>", inputs)  # type: ignore[arg-type]


def _with_trigger(loaded: LoadedAutomation, trigger: dict[str, Any]) -> LoadedAutomation:
    model = TypeAdapter(Trigger).validate_python(trigger)
    automation = loaded.automation.model_copy(update={"trigger": model, "status": "enabled"})
    return LoadedAutomation(automation, "<deployed trigger>", loaded.inputs)


def deployed_version(loaded: LoadedAutomation, observed: ObservedState, checks: Sequence[RecordedCheck]) -> Deployed:
    """The deployed version of ``loaded`` (its name's deployment) and whether the working tree differs from it."""
    name = loaded.automation.name
    shape = observed.deployments.get(f"{name}/{name}")
    if shape is None:
        return Deployed(None, NOT_DEPLOYED, changed=loaded.automation.status == "enabled")
    notes: list[str] = []
    if shape.get("paused"):
        notes.append("its deployment is paused now (replayed as if it ran)")
    definition = shape.get("definition")
    if definition:
        try:
            deployed = _from_definition(definition)
        except ValueError as exc:
            return Deployed(None, UNKNOWN, True, (*notes, f"the deployed definition does not load: {str(exc).splitlines()[0]}"))
        working = normalized(loaded.automation) | {"inputs": list(loaded.inputs)}
        return Deployed(deployed, DEFINITION, working != dict(definition), tuple(notes))
    trigger, why = _server_trigger(loaded, observed, shape, checks)
    if trigger is None:
        return Deployed(None, UNKNOWN, True, (*notes, f"the deployed trigger is not known: {why}"))
    if trigger["type"] != "event" and loaded.automation.trigger.cooldown_seconds and _cooldown(observed, name) is None:
        notes.append("its cooldown is not on the server yet (its limit comes with the first run): the working tree's is assumed")
    try:
        deployed = _with_trigger(loaded, trigger)
    except ValueError as exc:
        return Deployed(None, UNKNOWN, True, (*notes, f"the deployed trigger does not load: {str(exc).splitlines()[0]}"))
    notes.append("actions not compared: the definition its workers load is not readable here (trigger read from the server)")
    return Deployed(deployed, SERVER, rule_key(deployed) != rule_key(loaded), tuple(notes))


def deployed_event_patterns(name: str, observed: ObservedState) -> list[str]:
    """Event names (globs) the deployed version of ``name`` listens to: its trigger's ``expect``, or the recorded
    checks when it is a condition (its definition says so, or its deployment has no trigger and no schedule)."""
    shape = observed.deployments.get(f"{name}/{name}")
    if shape is None:
        return []
    patterns = [str(e) for entry in (shape.get("triggers") or {}).values() for e in (entry.get("trigger") or {}).get("expect") or []]
    definition = shape.get("definition")
    if definition:
        condition = (definition.get("trigger") or {}).get("type") == "condition"
    else:
        condition = not patterns and not any("cron" in schedule for schedule in shape.get("schedules") or [])
    if condition:
        patterns.append(CONDITION_CHECKED_EVENT)
    return patterns
