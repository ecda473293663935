"""One canonical shape per server object, built the same way from prefect.yaml data and from API reads.

Both sides go through Prefect's own schema classes (``CronSchedule``, ``IntervalSchedule``,
``AutomationCore``, the deployment trigger models), so defaults, number types and date formats agree
and a fresh ``deploy`` followed by ``plan`` compares equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter

__all__ = [
    "THIS_DEPLOYMENT",
    "automation_shape",
    "concurrency_shape",
    "desired_automation",
    "desired_schedule",
    "desired_triggers",
    "server_schedule",
    "server_schedule_json",
    "trigger_shape",
]

# What a deployment's own trigger automation names as its target: the id differs between the server
# and a not-yet-created deployment, and is not a difference worth showing.
THIS_DEPLOYMENT = "<this deployment>"
# Prefect stores these trigger lists as sets: the order read back is not the order written (measured).
_SET_LIKE = ("expect", "after", "for_each")
# A stand-in deployment id: the trigger models need one to build their action; it reads as THIS_DEPLOYMENT.
_PLACEHOLDER_ID = UUID(int=0)


def _without_defaults(shape: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in shape.items() if k not in defaults or v != defaults[k]}


def _schedule_shape(schedule: dict[str, Any], active: Any, parameters: Any, slug: Any, max_runs: Any) -> dict[str, Any]:
    # Options our build never sets are shown only when the server holds a non-default value.
    extra = _without_defaults(
        {"active": active, "parameters": parameters or {}, "slug": slug, "max_scheduled_runs": max_runs},
        {"parameters": {}, "slug": None, "max_scheduled_runs": None},
    )
    return {**schedule, **extra}


def desired_schedule(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A prefect.yaml schedule as `prefect deploy` turns it into a deployment schedule."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

    keys = {"cron", "interval", "rrule", "anchor_date", "timezone", "day_or", "active", "parameters", "slug", "replaces"}
    given = {k: v for k, v in entry.items() if k in keys and v is not None}
    schedule: Any
    if "cron" in given:
        schedule = CronSchedule(**{k: given[k] for k in ("cron", "timezone", "day_or") if k in given})
    elif "interval" in given:
        interval = given["interval"]
        options = {k: given[k] for k in ("anchor_date", "timezone") if k in given}
        schedule = IntervalSchedule(interval=timedelta(seconds=interval) if isinstance(interval, int | float) else interval, **options)
    else:
        schedule = RRuleSchedule(rrule=given.get("rrule", ""), **({"timezone": given["timezone"]} if "timezone" in given else {}))
    return _schedule_shape(
        schedule.model_dump(mode="json"), given.get("active", True), given.get("parameters"), given.get("slug"), None
    )


def server_schedule(deployment_schedule: Any) -> dict[str, Any]:
    """A deployment schedule read from the API."""
    return _schedule_shape(
        deployment_schedule.schedule.model_dump(mode="json"),
        deployment_schedule.active,
        deployment_schedule.parameters,
        deployment_schedule.slug,
        deployment_schedule.max_scheduled_runs,
    )


@lru_cache(maxsize=1)
def _schedule_adapter() -> TypeAdapter[Any]:
    """Built once: the schedule union's TypeAdapter, for every schedule of every deployment read."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.schedules import SCHEDULE_TYPES

    return TypeAdapter(SCHEDULE_TYPES)


def server_schedule_json(deployment_schedule: dict[str, Any]) -> dict[str, Any]:
    """A deployment schedule as the API's JSON has it: the schedule through the client's schedule models, as
    :func:`server_schedule` (without validating the rest: its timestamps cost more than the schedule)."""
    schedule = _schedule_adapter().validate_python(deployment_schedule["schedule"])
    return _schedule_shape(
        schedule.model_dump(mode="json"),
        deployment_schedule.get("active"),
        deployment_schedule.get("parameters"),
        deployment_schedule.get("slug"),
        deployment_schedule.get("max_scheduled_runs"),
    )


def concurrency_shape(limit: int | None, collision_strategy: str | None) -> dict[str, Any] | None:
    """A deployment's concurrency limit, or None for "no limit"."""
    if limit is None:
        return None
    return {"limit": limit, "collision_strategy": collision_strategy or "ENQUEUE"}


def _canonical_trigger(trigger: Any) -> Any:
    """Trigger data without server ids, with set-like lists sorted (also inside compound triggers)."""
    if isinstance(trigger, list):
        return [_canonical_trigger(item) for item in trigger]
    if not isinstance(trigger, dict):
        return trigger
    out: dict[str, Any] = {}
    for key, value in trigger.items():
        if key == "id":
            continue
        if key in _SET_LIKE and isinstance(value, list):
            out[key] = sorted(value, key=str)
        else:
            out[key] = _canonical_trigger(value)
    return out


def _core_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """Through ``AutomationCore``: the defaults and types the API applies, as JSON."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.events.schemas.automations import AutomationCore

    dumped: dict[str, Any] = AutomationCore.model_validate(dict(data)).model_dump(mode="json")
    return dumped


def automation_shape(data: Mapping[str, Any], deployment_id: str | None = None) -> dict[str, Any]:
    """A Prefect automation, comparable across the file and the server (ids dropped).

    Actions aimed at ``deployment_id`` name :data:`THIS_DEPLOYMENT` instead of the id.
    """
    core = _core_json(data)
    core.pop("owner_resource", None)

    def action(item: dict[str, Any]) -> dict[str, Any]:
        if deployment_id is not None and item.get("deployment_id") == deployment_id:
            return {**item, "deployment_id": THIS_DEPLOYMENT}
        return item

    for key in ("actions", "actions_on_trigger", "actions_on_resolve"):
        core[key] = [action(a) for a in core.get(key) or []]
    core["trigger"] = _canonical_trigger(core["trigger"])
    return core


def desired_automation(spec: Mapping[str, Any]) -> dict[str, Any]:
    """An entry of deployments/prefect_automations.json as deploy applies it."""
    return automation_shape(spec)


def trigger_shape(automation: Mapping[str, Any], deployment_id: str) -> dict[str, Any]:
    """A deployment trigger as it reads in prefect.yaml: the trigger's fields plus what the run gets.

    The automation `prefect deploy` creates for a trigger has one action, run-deployment of the
    deployment itself; it is folded back into ``parameters``, ``job_variables`` and ``schedule_after``.
    Any other automation aimed at the deployment keeps its ``actions`` list as it is.
    """
    shape = automation_shape(automation, deployment_id)
    shape.pop("name", None)  # the key of the trigger in its deployment
    actions = shape.get("actions") or []
    if (
        len(actions) == 1
        and actions[0].get("type") == "run-deployment"
        and actions[0].get("deployment_id") == THIS_DEPLOYMENT
        and not shape.get("actions_on_trigger")
        and not shape.get("actions_on_resolve")
    ):
        run = actions[0]
        del shape["actions"], shape["actions_on_trigger"], shape["actions_on_resolve"]
        shape.update(
            {"parameters": run.get("parameters"), "job_variables": run.get("job_variables"), "schedule_after": run.get("schedule_after")}
        )
    return shape


@lru_cache(maxsize=1)
def _trigger_adapter() -> TypeAdapter[Any]:
    """Built once: a TypeAdapter of the trigger union costs ~30 ms (per deployment before; plan of P12's 1,000 automations)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.events import DeploymentTriggerTypes

    return TypeAdapter(DeploymentTriggerTypes)


def desired_triggers(deployment_name: str, specs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """prefect.yaml triggers, by name, as `prefect deploy` turns them into automations (unnamed ones get its default names)."""
    adapter = _trigger_adapter()
    shapes: dict[str, dict[str, Any]] = {}
    for index, spec in enumerate(specs, start=1):
        trigger = adapter.validate_python({"name": f"{deployment_name}__automation_{index}", **spec})
        trigger.set_deployment_id(_PLACEHOLDER_ID)
        automation = trigger.as_automation().model_dump(mode="json")
        shapes[automation["name"]] = trigger_shape(automation, str(_PLACEHOLDER_ID))
    return shapes
