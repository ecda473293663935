"""Helpers of the replay tests: automations as data, events as the events API returns them, recorded checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from compiler.commands.build import concurrency_limits, deployments_for
from compiler.commands.plan.desired import deployment_key, flow_name_of
from compiler.commands.plan.observed import ObservedState
from compiler.commands.plan.shapes import desired_schedule, desired_triggers
from compiler.commands.replay.history import History
from compiler.commands.replay.window import Window
from compiler.language.catalog import LoadedAutomation, load_automation_data
from compiler.language.condition_groups import check_id, check_tick, group_name
from compiler.language.deploy_config import BuildOptions
from compiler.language.model.triggers import ConditionSpec
from compiler.language.normalize import normalized
from flows.conditions.check_events import group_checked_events
from flows.conditions.evaluate import evaluate_condition
from flows.events.publish import build_event
from tests.compiler.support import EXAMPLES

__all__ = ["SAY", "T0", "api_event", "automation", "check", "group_check", "history", "minutes", "server_with"]

T0 = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # the start of every test window
SAY = [{"type": "log_message", "name": "say", "parameters": {"message": "hello"}}]


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def automation(trigger: dict[str, Any], actions: list[dict[str, Any]] | None = None, **fields: Any) -> LoadedAutomation:
    """A validated automation named ``a`` (or ``fields['name']``) with ``trigger``."""
    data = {"name": "a", **fields, "trigger": trigger, "actions": actions or SAY}
    catalog = load_automation_data(data, EXAMPLES.parent)
    assert not catalog.errors, [str(d) for d in catalog.errors]
    return catalog.automations[data["name"]]


def api_event(at: datetime, kind: str = "chain_complete", payload: dict[str, Any] | None = None, **labels: str) -> dict[str, Any]:
    """An event as ``/events/filter`` returns it (``occurred`` with ``Z``), built like the runtime publishes it."""
    body = dict(payload or {})
    built = build_event(kind, labels, body)
    return {
        "id": str(uuid.uuid4()),
        "occurred": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "event": built.event,
        "resource": built.resource,
        "payload": built.payload,
        "related": [],
    }


def group_check(at: datetime, document: Any, conditions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The event a check of a group (automation name → its condition, one source and interval) on ``document``
    records, as the events API returns it."""
    specs = {name: ConditionSpec.model_validate(condition) for name, condition in conditions.items()}
    first = next(iter(specs.values()))
    group = group_name(first.source, first.check_interval_seconds)
    checked = [(name, spec, evaluate_condition(spec, document).fired) for name, spec in specs.items()]
    tick = check_tick(first.check_interval_seconds, at)  # the check at ``at`` is the one of its tick
    (event,) = group_checked_events(group, first.check_interval_seconds, check_id(group, tick), checked, document)
    return {"id": str(uuid.uuid4()), "occurred": at.isoformat().replace("+00:00", "Z"), "related": [], **event}


def check(at: datetime, document: Any, condition: dict[str, Any], name: str = "a") -> dict[str, Any]:
    """The event a check of the group of one automation ``name`` (``condition`` on ``document``) records."""
    return group_check(at, document, {name: condition})


def history(events: list[dict[str, Any]], hours: float = 24) -> History:
    return History.build(Window(T0, T0 + timedelta(hours=hours)), events)


def server_with(deployed: LoadedAutomation, *, definition: bool = False) -> ObservedState:
    """What the server holds after `deploy` of ``deployed``: the deployments (and watcher) as plan reads them."""
    observed = ObservedState()
    for entry in deployments_for(deployed.automation, BuildOptions()):
        shape: dict[str, Any] = {
            "paused": False,
            "schedules": [desired_schedule(s) for s in entry["schedules"]],
            "triggers": desired_triggers(entry["name"], entry["triggers"]),
        }
        if definition and entry["name"] == deployed.automation.name:
            shape["definition"] = normalized(deployed.automation) | {"inputs": list(deployed.inputs)}
        observed.deployments[deployment_key(flow_name_of(entry["entrypoint"]), entry["name"])] = shape
    for limit in concurrency_limits([deployed.automation]):
        observed.limits[limit["name"]] = {"limit": 1, "slot_decay_per_second": limit["slot_decay_per_second"]}
    return observed
