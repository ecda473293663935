"""Dry run: would the trigger fire for this event, metrics document or scheduled time, and what would each action receive.

The pure parts (``trigger_verdict``, ``cooldown_verdict``, ``preview_actions``) never touch a Prefect
server; ``dry-run`` adds a read-only look at the cooldown, and ``test`` runs them on its cases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.cli_failures import api_failure
from compiler.commands.command_inputs import load_named_with_params, read_json, usage
from compiler.commands.dry_run.webhook import cmd_dry_run_webhook
from compiler.commands.output import out
from compiler.language.catalog import LoadedAutomation
from compiler.language.templates import MissingVariable, TemplateSyntaxError, render_value
from flows.conditions.evaluate import evaluate_condition
from flows.engine.admission import cooldown_limit_name, missed_run_reason
from flows.engine.run_context import RunInputs, builtin_variables, missing_inputs, resolve_occurrence, template_variables
from flows.events.matching import match_event, normalize_event

__all__ = [
    "FAILS",
    "RUNS",
    "SKIPPED",
    "UNKNOWN",
    "ActionPreview",
    "TriggerVerdict",
    "add_command",
    "cmd_dry_run",
    "cooldown_verdict",
    "dry_run",
    "in_cooldown",
    "preview_actions",
    "trigger_verdict",
]

# Statuses of a previewed action, as the run would record them.
RUNS, FAILS, SKIPPED, UNKNOWN = "runs", "fails", "skipped", "unknown"


@dataclass(frozen=True)
class TriggerVerdict:
    """Would the trigger start a run, why, and the trigger data the run's templates would see."""

    fires: bool
    reasons: tuple[str, ...]
    event: dict[str, Any] | None = None
    condition: dict[str, Any] | None = None
    scheduled_time: str | None = None


@dataclass
class ActionPreview:
    """One action as a run would see it: ``runs``, ``fails``, ``skipped`` (an earlier action stopped the
    run) or ``unknown`` (its parameters use outputs of earlier actions that are not known here)."""

    name: str
    type: str
    status: str
    parameters: Any = None
    error: str | None = None
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "type": self.type, "status": self.status}
        if self.error is None:
            entry["parameters"] = self.parameters
        else:
            entry["error"] = self.error
        if self.note:
            entry["note"] = self.note
        return entry


def _time_verdict(loaded: LoadedAutomation, scheduled: datetime | None, now: datetime) -> tuple[bool, str, str | None]:
    trigger = loaded.automation.trigger
    assert trigger.type == "time"  # the caller decided on the trigger's type
    spec = trigger.time
    zone = ZoneInfo(spec.timezone_str)
    cron = f"cron '{spec.cron_expression}' ({spec.timezone_str})"
    if scheduled is None:
        upcoming = croniter(spec.cron_expression, now.astimezone(zone))
        return True, "next runs: " + ", ".join(upcoming.get_next(datetime).isoformat() for _ in range(3)), None
    local = scheduled.astimezone(zone)
    first = croniter(spec.cron_expression, local - timedelta(seconds=1)).get_next(datetime)
    if first != local:
        return False, f"{cron} does not fire at {local.isoformat()}; its next run is at {first.isoformat()}", None
    # The newest run the schedule created up to `now`: what the missed-run policy "last" compares with.
    newest = croniter(spec.cron_expression, now.astimezone(zone) + timedelta(seconds=1)).get_prev(datetime)
    newer = newest if newest > local else None
    missed = missed_run_reason(spec.missed_runs.policy, spec.missed_runs.grace_seconds, scheduled, now, newer)
    if missed:
        return False, missed, None
    late = (now - scheduled).total_seconds()
    suffix = f", started {late:.0f}s late (policy {spec.missed_runs.policy}, grace {spec.missed_runs.grace_seconds}s)" if late > 0 else ""
    return True, f"{cron} fires at {local.isoformat()}{suffix}", scheduled.astimezone(UTC).isoformat()


def trigger_verdict(
    loaded: LoadedAutomation,
    *,
    event: Any = None,
    metrics: Any = None,
    scheduled: datetime | None = None,
    now: datetime | None = None,
    check_id: str = "dry-run",
) -> TriggerVerdict:
    """The trigger's answer (no cooldown, no server): ValueError when the trigger's data is missing.

    A time trigger without ``scheduled`` lists its next runs; with it, the cron must fire at that time
    and the missed-run policy must let a run starting at ``now`` (default: on time) go ahead.
    """
    automation = loaded.automation
    trigger = automation.trigger
    if trigger.type == "event":
        if event is None:
            raise ValueError(f"{automation.name} has an event trigger: give --event FILE")
        event_data = normalize_event(event)
        fires, why = match_event(trigger.event, event_data)
        return TriggerVerdict(fires, (why,), event=event_data)
    if trigger.type == "condition":
        if metrics is None:
            raise ValueError(f"{automation.name} has a condition trigger: give --metrics FILE")
        result = evaluate_condition(trigger.condition, metrics)
        return TriggerVerdict(result.fired, (result.reason,), condition=result.as_trigger_data(trigger.condition, check_id))
    started = now or scheduled or datetime.now(UTC)
    fires, why, scheduled_time = _time_verdict(loaded, scheduled, started)
    return TriggerVerdict(fires, (why,), scheduled_time=scheduled_time)


def in_cooldown(cooldown_seconds: int, last_run_seconds_ago: float | None) -> bool:
    """The cooldown rule alone (``replay`` asks it for every occurrence of a window; the reason is not needed)."""
    return cooldown_seconds > 0 and last_run_seconds_ago is not None and last_run_seconds_ago < cooldown_seconds


def cooldown_verdict(cooldown_seconds: int, last_run_seconds_ago: float | None) -> tuple[bool, str]:
    """(blocked, reason) for a run started ``last_run_seconds_ago`` after the previous one (None: no previous run)."""
    if cooldown_seconds <= 0:
        return False, "no cooldown"
    if last_run_seconds_ago is None:
        return False, f"not in cooldown ({cooldown_seconds}s; no earlier run)"
    if in_cooldown(cooldown_seconds, last_run_seconds_ago):
        return True, f"in cooldown: the last run started {last_run_seconds_ago:g}s ago, cooldown {cooldown_seconds}s"
    return False, f"not in cooldown: the last run started {last_run_seconds_ago:g}s ago, cooldown {cooldown_seconds}s"


def _validated(action: Any, rendered: Any) -> str | None:
    """Why the rendered parameters would be refused by the action (the engine fails it without retries), or None."""
    # deferred: the action table costs ~35 ms (measured: every action module); every command loads this module; validate, list and test never need it
    from flows.actions import ACTION_TYPES

    try:
        ACTION_TYPES[action.type].parameters.model_validate(rendered)
    except ValueError as exc:
        return f"parameters invalid after rendering templates: {exc}"
    return None


def preview_actions(
    loaded: LoadedAutomation,
    variables_for: Any,
    *,
    outputs: Mapping[str, Any] | None = None,
    failing: Collection[str] = (),
) -> list[ActionPreview]:
    """Each action in order, as the engine would treat it: rendered parameters (secrets left as references),
    a failure (``failing`` names actions that fail; a template or parameter error fails one too), and the
    actions skipped after a failure without ``continue_on_failure``.

    ``variables_for(outputs_so_far)`` returns the template variables; ``outputs`` holds known outputs of
    actions (a failing or unknown action contributes none).
    """
    known = dict(outputs or {})
    so_far: dict[str, Any] = {}
    stopped_by: str | None = None
    previews: list[ActionPreview] = []
    for action in loaded.automation.actions:
        raw = action.parameters.model_dump(mode="json", by_alias=True, exclude_none=True)
        preview = ActionPreview(action.name, action.type, RUNS)
        try:
            preview.parameters = render_value(raw, variables_for(dict(so_far)))
            problem = _validated(action, preview.parameters)
            if problem:
                preview.status, preview.error = FAILS, problem
        except MissingVariable as exc:
            if exc.reference.startswith("outputs."):
                # Outputs exist only once earlier actions ran: show the parameters as written.
                preview.status, preview.parameters = UNKNOWN, raw
                preview.note = f"uses {{{exc.reference}}}, known only after the earlier action runs"
            else:
                preview.status, preview.error = FAILS, str(exc)
        except (TemplateSyntaxError, TypeError) as exc:
            preview.status, preview.error = FAILS, str(exc)
        if stopped_by is not None:
            preview.status = SKIPPED
            preview.note = f"not run: action '{stopped_by}' failed and has continue_on_failure: false"
        elif action.name in failing:
            preview.status = FAILS
            preview.note = "fails (as the case says)"
        if preview.status == FAILS and not action.continue_on_failure:
            stopped_by = action.name
        if preview.status in (RUNS, UNKNOWN) and action.name in known:
            so_far[action.name] = known[action.name]
        previews.append(preview)
    return previews


async def _cooldown_state(name: str, cooldown: int) -> str:
    """Read-only look at the cooldown limit (never takes a slot)."""
    if cooldown <= 0:
        return "no cooldown"
    if not configured_api_url():
        return f"cooldown {cooldown}s (not checked: no Prefect API configured)"
    os.environ["PREFECT_API_URL"] = configured_api_url() or ""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.orchestration import get_client

    try:
        async with get_client() as client:
            limit = await client.read_global_concurrency_limit_by_name(cooldown_limit_name(name))
    except Exception as exc:  # noqa: BLE001 - a dry run reports what it could not check
        return f"cooldown {cooldown}s (not checked: {api_failure(exc) or type(exc).__name__})"
    if limit.active_slots >= limit.limit:
        return f"in cooldown: a run started less than {cooldown}s ago"
    return f"not in cooldown ({cooldown}s)"


async def dry_run(
    loaded: LoadedAutomation, *, event: Any = None, metrics: Any = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    automation = loaded.automation
    verdict = trigger_verdict(loaded, event=event, metrics=metrics)
    reasons = list(verdict.reasons)
    fires = verdict.fires
    cooldown = await _cooldown_state(automation.name, automation.trigger.cooldown_seconds)
    reasons.append(cooldown)
    if cooldown.startswith("in cooldown"):
        fires = False
    run = RunInputs(inputs=params or {}, event=verdict.event, condition=verdict.condition)
    missing = missing_inputs(automation, loaded.inputs, run)
    if missing:
        reasons.append(f"missing input(s): {', '.join(missing)} (a run would be refused)")
    occurrence = resolve_occurrence(run, "dry-run")
    builtins = builtin_variables(automation, "dry-run", datetime.now(UTC), occurrence)

    def variables_for(outputs: dict[str, Any]) -> dict[str, Any]:
        return template_variables(automation, loaded.inputs, run, builtins, outputs)

    # Nothing runs in a dry run, so no action has an output.
    actions = [preview.to_json() for preview in preview_actions(loaded, variables_for)]
    return {"automation": automation.name, "would_fire": fires and not missing, "reasons": reasons, "actions": actions}


# --- the command ---------------------------------------------------------------------------------------


def cmd_dry_run(args: argparse.Namespace) -> int:
    if getattr(args, "request", None):
        return cmd_dry_run_webhook(args)  # NAME is a webhook
    found = load_named_with_params(args)
    if isinstance(found, int):
        return found
    loaded, params = found
    event = read_json(args.event, "event") if args.event else None
    metrics = read_json(args.metrics, "metrics") if args.metrics else None
    try:
        report = asyncio.run(dry_run(loaded, event=event, metrics=metrics, params=params))
    except ValueError as exc:
        return usage(str(exc))
    if args.json:
        out(json.dumps(report, indent=2, default=str))
        return 0
    out(f"{loaded.automation.name}: would {'FIRE' if report['would_fire'] else 'NOT fire'}")
    for reason in report["reasons"]:
        out(f"  - {reason}")
    for action in report["actions"]:
        out(f"  action {action['name']} ({action['type']}):")
        if "parameters" in action:
            out("    " + json.dumps(action["parameters"], default=str))
        else:
            out(f"    cannot render: {action['error']}")
        if "note" in action:
            out(f"    note: {action['note']}")
    return 0


def add_command(sub: Any) -> None:
    p = sub.add_parser("dry-run", help="would the trigger fire, and what would each action do (executes nothing)")
    p.add_argument("name")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--event", type=Path, help="JSON file of an event")
    group.add_argument("--metrics", type=Path, help="JSON file of a metrics document")
    group.add_argument("--request", type=Path, help="JSON file of a saved webhook request {headers, body}: NAME is then a webhook")
    p.add_argument("--param", action="append", default=[], metavar="K=V")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dry_run)
