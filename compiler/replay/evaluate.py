"""One automation replayed on a window's history: each occurrence that would start a run, those the cooldown
suppresses, and the first few as their run would see them. Nothing is executed.

Every step is the production or dry-run code: the event matcher (flows/event_match.py), the condition
evaluation on the recorded values (flows/conditions.py through ``trigger_verdict``), the server's cron dates
(flows/prefect_seam.py), the cooldown rule and the action previews of ``dry-run`` and ``test``
(compiler/dry_run.py) with the run's template variables (flows/run_context.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from compiler.catalog import LoadedAutomation
from compiler.dry_run import cooldown_verdict, preview_actions, trigger_verdict
from compiler.replay.history import History
from flows.event_match import match_event
from flows.run_context import RunInputs, builtin_variables, missing_inputs, resolve_occurrence, template_variables

__all__ = ["RUN_ID", "SHOWN", "Firing", "Outcome", "Shown", "flow_event", "replay_automation"]

RUN_ID = "replay"  # what {run_id} renders to in a replayed occurrence
SHOWN = 3  # occurrences rendered per automation by default


@dataclass(frozen=True)
class Firing:
    """An occurrence that would start a run: when, and its occurrence key (``event:ID``, ``schedule:TIME``, ``condition:CHECK``)."""

    at: datetime
    key: str


@dataclass(frozen=True)
class Shown:
    """One of the first firings as its run would see it: the trigger's data and every action's rendered parameters."""

    at: datetime
    key: str
    reason: str
    trigger: dict[str, Any]
    actions: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"time": self.at.isoformat(), "occurrence": self.key, "reason": self.reason, **self.trigger, "actions": self.actions}


@dataclass
class Outcome:
    """What an automation would have done in the window."""

    firings: list[Firing] = field(default_factory=list)
    suppressed: int = 0  # occurrences the cooldown would have skipped
    failing: int = 0  # firings whose run would fail at once: an input is missing
    shown: list[Shown] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.firings)

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.firings]


@dataclass(frozen=True)
class _Candidate:
    """An occurrence the trigger answers (before the cooldown): the raw event, the scheduled time or the check's verdict."""

    at: datetime
    key: str
    data: Any


def flow_event(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``event`` parameter the deployment trigger gives a run (flows/prefect_seam.py's template): ``occurred``
    as Python's isoformat of the time, not the API's ``Z`` form."""
    return {
        "id": str(raw.get("id")),
        "event": raw.get("event"),
        "occurred": datetime.fromisoformat(str(raw["occurred"])).isoformat(),
        "resource": dict(raw.get("resource") or {}),
        "payload": dict(raw.get("payload") or {}),
    }


def _event_candidates(loaded: LoadedAutomation, history: History) -> list[_Candidate]:
    spec = loaded.automation.trigger.event  # type: ignore[union-attr]
    found = []
    for index in history.candidates(spec):
        event = history.events[index]
        if match_event(spec, event)[0]:
            found.append(_Candidate(history.times[index], f"event:{event.get('id')}", event))
    return found


@lru_cache(maxsize=512)
def _scheduled(cron: str, zone: str, since: datetime, until: datetime) -> tuple[datetime, ...]:
    """The server's cron dates of a window; many automations share a cron and timezone (P11: 20 pairs for 333)."""
    from flows.prefect_seam import cron_dates

    return tuple(cron_dates(cron, zone, since, until))


def _time_candidates(loaded: LoadedAutomation, history: History) -> list[_Candidate]:
    spec = loaded.automation.trigger.time  # type: ignore[union-attr]
    dates = _scheduled(spec.cron_expression, spec.timezone_str, history.window.since, history.window.until)
    return [_Candidate(at, f"schedule:{at.isoformat()}", at) for at in dates]


def _condition_candidates(loaded: LoadedAutomation, history: History, notes: list[str]) -> list[_Candidate]:
    automation = loaded.automation
    spec = automation.trigger.condition  # type: ignore[union-attr]
    checks = history.checks.get(automation.name, [])
    if not checks:
        notes.append("no condition check recorded in the window (the watcher records each check as an event)")
    found, elsewhere, truncated = [], set(), 0
    for check in checks:
        if check.condition.get("metric_path") != spec.metric_path:
            elsewhere.add(str(check.condition.get("metric_path")))
            continue
        truncated += check.truncated
        verdict = trigger_verdict(loaded, metrics=history.document(check), check_id=check.check_id)
        if verdict.fires:
            found.append(_Candidate(check.occurred, f"condition:{check.check_id}", verdict))
    if elsewhere:
        skipped = sum(1 for c in checks if c.condition.get("metric_path") != spec.metric_path)
        notes.append(
            f"{skipped} check(s) recorded the values of {', '.join(sorted(elsewhere))}, not of {spec.metric_path}: not replayed"
        )
    if truncated:
        notes.append(f"{truncated} check(s) recorded only the first of their matched values")
    return found


def _run_inputs(kind: str, candidate: _Candidate) -> RunInputs:
    if kind == "event":
        return RunInputs(inputs={}, event=flow_event(candidate.data))
    if kind == "condition":
        return RunInputs(inputs={}, condition=candidate.data.condition)
    return RunInputs(inputs={}, scheduled_time=candidate.at.isoformat())


def _reason(loaded: LoadedAutomation, kind: str, candidate: _Candidate) -> str:
    if kind == "event":
        return match_event(loaded.automation.trigger.event, candidate.data)[1]  # type: ignore[union-attr]
    if kind == "condition":
        return str(candidate.data.reasons[0])
    spec = loaded.automation.trigger.time  # type: ignore[union-attr]
    local = candidate.at.astimezone(ZoneInfo(spec.timezone_str)).isoformat()
    return f"cron '{spec.cron_expression}' ({spec.timezone_str}) fires at {local}"


def _show(loaded: LoadedAutomation, kind: str, candidate: _Candidate, run: RunInputs) -> Shown:
    automation = loaded.automation
    builtins = builtin_variables(automation, RUN_ID, candidate.at, resolve_occurrence(run, RUN_ID))

    def variables_for(outputs: dict[str, Any]) -> dict[str, Any]:
        return template_variables(automation, loaded.inputs, run, builtins, outputs)

    trigger = {"event": run.event} if run.event is not None else {"condition": run.condition} if run.condition is not None else {
        "scheduled_time": run.scheduled_time
    }
    # Nothing runs, so no action has an output: actions using one show their parameters as written.
    actions = [preview.to_json() for preview in preview_actions(loaded, variables_for)]
    return Shown(candidate.at, candidate.key, _reason(loaded, kind, candidate), trigger, actions)  # type: ignore[arg-type]


def replay_automation(loaded: LoadedAutomation, history: History, *, shown: int = SHOWN) -> Outcome:
    """What ``loaded`` would have done in ``history``'s window, its first ``shown`` firings rendered."""
    automation = loaded.automation
    outcome = Outcome()
    if automation.status != "enabled":
        outcome.notes.append(f"{automation.status}: not deployed, so it would not run")
        return outcome
    kind = automation.trigger.type
    if kind == "event":
        candidates = _event_candidates(loaded, history)
    elif kind == "time":
        candidates = _time_candidates(loaded, history)
    else:
        candidates = _condition_candidates(loaded, history, outcome.notes)
    cooldown = automation.trigger.cooldown_seconds
    last: datetime | None = None
    missing: set[str] = set()
    for candidate in candidates:
        blocked, _ = cooldown_verdict(cooldown, None if last is None else (candidate.at - last).total_seconds())
        if blocked:
            outcome.suppressed += 1
            continue
        # The run takes the cooldown slot before it checks its inputs (flows/engine.py): a failing run counts.
        last = candidate.at
        outcome.firings.append(Firing(candidate.at, candidate.key))
        if not loaded.inputs and len(outcome.shown) >= shown:
            continue
        run = _run_inputs(kind, candidate)
        absent = missing_inputs(automation, loaded.inputs, run) if loaded.inputs else []
        if absent:
            outcome.failing += 1
            missing.update(absent)
        if len(outcome.shown) < shown:
            outcome.shown.append(_show(loaded, kind, candidate, run))
    if outcome.failing:
        outcome.notes.append(f"{outcome.failing} run(s) would fail at once: missing input(s) {', '.join(sorted(missing))}")
    return outcome
