"""What ``serve`` prints: what it serves and when each automation next fires, and one line per run started and finished."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from compiler.commands.build.deployments import WATCHER_ANCHOR_DATE, event_trigger
from compiler.commands.output import Column, say, table
from compiler.language.prefect_names import WATCHER_FLOW_NAME

__all__ = ["check_reported", "next_fire", "print_checks", "print_schedule", "run_finished", "run_started", "ui_url"]


def next_fire(automation: Any, now: datetime | None = None) -> str:
    """When the automation next fires: the next cron time, the watcher's next check, or the event it waits for."""
    now = now or datetime.now(UTC)
    trigger = automation.trigger
    if trigger.type == "time":
        zone = ZoneInfo(trigger.time.timezone_str)
        upcoming = croniter(trigger.time.cron_expression, now.astimezone(zone)).get_next(datetime)
        return f"next run {upcoming:%Y-%m-%d %H:%M %Z} (cron '{trigger.time.cron_expression}' {trigger.time.timezone_str})"
    if trigger.type == "condition":
        condition = trigger.condition
        interval = condition.check_interval_seconds

        anchor = datetime.fromisoformat(WATCHER_ANCHOR_DATE)
        checks = math.floor((now - anchor).total_seconds() / interval) + 1
        upcoming = anchor + timedelta(seconds=checks * interval)
        return (f"checks {condition.metric_path} {condition.operator} {condition.threshold} every {interval} s; "
                f"next check {upcoming:%H:%M:%S} UTC")

    spec = event_trigger(automation)
    filters = [f"{label}={value}" for label, value in spec["match"].items() if label != "prefect.resource.id"]
    return f"waits for event {spec['expect'][0]}" + (f" ({', '.join(filters)})" if filters else "")


def print_schedule(automations: Iterable[Any]) -> None:
    """One row per served automation: name, trigger type, when it next fires."""
    rows = [(a.name, a.trigger.type, next_fire(a)) for a in sorted(automations, key=lambda a: a.name)]
    table([Column("AUTOMATION"), Column("TRIGGER"), Column("NEXT")], rows,
          [f"  {name:<36} {kind:<9} {when}" for name, kind, when in rows])


def ui_url() -> str:
    """The Prefect UI of the API this process talks to."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    url = PREFECT_UI_URL.value() or (PREFECT_API_URL.value() or "").removesuffix("/api")
    return str(url).rstrip("/")


def _automation_and_trigger(run: Any, flow_name: str) -> tuple[str, str]:
    parameters = run.parameters or {}
    if flow_name == WATCHER_FLOW_NAME:
        return str(parameters.get("automation", "?")), "condition check"
    if parameters.get("event"):
        return flow_name, f"event {parameters['event'].get('event', '?')}"
    if parameters.get("condition"):
        return flow_name, "condition"
    return flow_name, "schedule" if run.auto_scheduled else "manual"


def _link(run: Any) -> str:
    return f"{ui_url()}/runs/flow-run/{run.id}"


def run_started(run: Any, flow_name: str) -> None:
    automation, trigger = _automation_and_trigger(run, flow_name)
    if flow_name == WATCHER_FLOW_NAME:
        return  # a check every few seconds would drown the runs it starts; those are printed
    say(f"run started: {automation} ({trigger}) {_link(run)}")


def run_finished(run: Any, flow_name: str, state: Any, seconds: float) -> None:
    automation, trigger = _automation_and_trigger(run, flow_name)
    outcome = state.name if state is not None else "ended outside the engine"
    if flow_name == WATCHER_FLOW_NAME and state is not None and not (state.is_failed() or state.is_crashed()):
        return  # only a check that failed is news
    message = f": {state.message.splitlines()[0]}" if state is not None and state.message and not state.is_completed() else ""
    say(f"run finished: {automation} ({trigger}): {outcome} in {seconds:.2f} s{message} {_link(run)}")


def print_checks(groups: Any) -> None:
    """One line for the condition checks this process makes: how many conditions, in which groups."""
    if not groups:
        return
    total = sum(len(group.members) for group in groups.values())
    shown = ", ".join(f"{name} ({len(group.members)})" for name, group in list(groups.items())[:10])
    more = f", … and {len(groups) - 10} more" if len(groups) > 10 else ""
    say(f"checking {total} condition(s) here, one read of each source per interval: {shown}{more}")


def check_reported(report: Any) -> None:
    """A line per condition whose state changed, or whose run could not be started; runs started are
    reported by the run lines."""
    for result in report.results:
        before = report.changed.get(result.name)
        if result.action in ("no deployment", "failed"):
            say(f"condition {result.name}: {result.reason}")
        elif before is not None:
            say(f"condition {result.name}: {before} -> {result.state}: {result.reason}")
