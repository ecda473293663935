"""Dry run: would the trigger fire for this event or metrics document, and what would each action receive."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from compiler.catalog import LoadedAutomation
from compiler.templates import MissingVariable, TemplateSyntaxError, render_value

__all__ = ["dry_run"]


async def _cooldown_state(name: str, cooldown: int) -> str:
    """Read-only look at the cooldown limit (never takes a slot)."""
    from compiler.api_target import configured_api_url

    if cooldown <= 0:
        return "no cooldown"
    if not configured_api_url():
        return f"cooldown {cooldown}s (not checked: no Prefect API configured)"
    import os

    os.environ["PREFECT_API_URL"] = configured_api_url() or ""
    from prefect.client.orchestration import get_client

    from flows.gates import cooldown_limit_name

    try:
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(cooldown_limit_name(name))
    except Exception as exc:  # noqa: BLE001 - a dry run reports what it could not check
        return f"cooldown {cooldown}s (not checked: {type(exc).__name__})"
    if limit.active_slots >= limit.limit:
        return f"in cooldown: a run started less than {cooldown}s ago"
    return f"not in cooldown ({cooldown}s)"


async def dry_run(
    loaded: LoadedAutomation, *, event: Any = None, metrics: Any = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    from flows.conditions import evaluate_condition
    from flows.event_match import match_event, normalize_event
    from flows.run_context import RunInputs, builtin_variables, missing_inputs, resolve_occurrence, template_variables

    automation = loaded.automation
    trigger = automation.trigger
    reasons: list[str] = []
    fires = True
    event_data = None
    condition_data = None
    if trigger.type == "event":
        if event is None:
            raise ValueError(f"{automation.name} has an event trigger: give --event FILE")
        event_data = normalize_event(event)
        fires, why = match_event(trigger.event, event_data)
        reasons.append(why)
    elif trigger.type == "condition":
        if metrics is None:
            raise ValueError(f"{automation.name} has a condition trigger: give --metrics FILE")
        result = evaluate_condition(trigger.condition, metrics)
        fires = result.fired
        reasons.append(result.reason)
        condition_data = result.as_trigger_data(trigger.condition, "dry-run")
    else:
        from croniter import croniter
        from zoneinfo import ZoneInfo

        zone = ZoneInfo(trigger.time.timezone_str)
        upcoming = croniter(trigger.time.cron_expression, datetime.now(zone))
        reasons.append("next runs: " + ", ".join(upcoming.get_next(datetime).isoformat() for _ in range(3)))
    cooldown = await _cooldown_state(automation.name, trigger.cooldown_seconds)
    reasons.append(cooldown)
    if cooldown.startswith("in cooldown"):
        fires = False
    run = RunInputs(inputs=params or {}, event=event_data, condition=condition_data)
    missing = missing_inputs(automation, loaded.inputs, run)
    if missing:
        reasons.append(f"missing input(s): {', '.join(missing)} (a run would be refused)")
    occurrence = resolve_occurrence(run, "dry-run")
    builtins = builtin_variables(automation, "dry-run", datetime.now(timezone.utc), occurrence)
    actions = []
    outputs: dict[str, Any] = {}  # nothing runs in a dry run
    for action in automation.actions:
        variables = template_variables(automation, loaded.inputs, run, builtins, outputs)
        raw = action.parameters.model_dump(mode="json", by_alias=True, exclude_none=True)  # type: ignore[attr-defined]
        entry: dict[str, Any] = {"name": action.name, "type": action.type}  # type: ignore[attr-defined]
        try:
            entry["parameters"] = render_value(raw, variables)
        except MissingVariable as exc:
            if exc.reference.startswith("outputs."):
                # Outputs exist only once earlier actions ran: show the parameters as written.
                entry["parameters"] = raw
                entry["note"] = f"uses {{{exc.reference}}}, known only after the earlier action runs"
            else:
                entry["error"] = str(exc)
        except TemplateSyntaxError as exc:
            entry["error"] = str(exc)
        actions.append(entry)
    return {"automation": automation.name, "would_fire": fires and not missing, "reasons": reasons, "actions": actions}
