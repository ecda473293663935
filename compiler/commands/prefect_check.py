"""What build emits, checked with Prefect's own models, so `build` fails on what `prefect deploy` would reject.

The deployment pieces are written as plain data (the exact text of prefect.yaml is ours to keep stable),
then each is validated by the class Prefect itself parses it with: schedules (``CronSchedule``,
``IntervalSchedule``), triggers (``DeploymentEventTrigger``), the deployment concurrency option
(``ConcurrencyLimitConfig``) and Prefect automations (``AutomationCore``). Equal pieces are checked once
(1,000 automations share a few schedules and trigger shapes: benchmark P1).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["automation_problems", "deployment_problems"]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


@lru_cache(maxsize=4096)
def _schedule_problem(frozen: str) -> str | None:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    spec = json.loads(frozen)
    try:
        if "cron" in spec:
            CronSchedule(cron=spec["cron"], timezone=spec.get("timezone"), day_or=spec.get("day_or", True))
        else:
            anchor = spec.get("anchor_date")
            IntervalSchedule(
                interval=timedelta(seconds=spec["interval"]),
                anchor_date=datetime.fromisoformat(anchor) if anchor else None,
                timezone=spec.get("timezone"),
            )
    except ValidationError as exc:
        return f"schedule rejected by Prefect: {_first_error(exc)}"
    return None


@lru_cache(maxsize=4096)
def _model_problem(kind: str, frozen: str) -> str | None:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.events.schemas.automations import AutomationCore
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    models: dict[str, type[BaseModel]] = {
        "trigger": DeploymentEventTrigger, "concurrency_limit": ConcurrencyLimitConfig, "automation": AutomationCore
    }
    model = models[kind]
    try:
        model.model_validate(json.loads(frozen))
    except ValidationError as exc:
        return f"{kind.replace('_', ' ')} rejected by Prefect: {_first_error(exc)}"
    return None


def _frozen(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def deployment_problems(deployment: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for every piece of one prefect.yaml deployment that Prefect's models refuse."""
    problems: list[tuple[str, str]] = []
    for index, schedule in enumerate(deployment.get("schedules") or []):
        problem = _schedule_problem(_frozen(schedule))
        if problem:
            problems.append((f"schedules[{index}]", problem))
    for index, trigger in enumerate(deployment.get("triggers") or []):
        problem = _model_problem("trigger", _frozen(trigger))
        if problem:
            problems.append((f"triggers[{index}]", problem))
    if deployment.get("concurrency_limit") is not None:
        problem = _model_problem("concurrency_limit", _frozen(deployment["concurrency_limit"]))
        if problem:
            problems.append(("concurrency_limit", problem))
    return problems


def automation_problems(spec: dict[str, Any]) -> list[str]:
    """Messages for a Prefect automation spec that ``AutomationCore`` refuses."""
    problem = _model_problem("automation", _frozen(spec))
    return [problem] if problem else []
