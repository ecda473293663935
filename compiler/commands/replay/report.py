"""The replay as text (like ``plan``: a table on a terminal, plain lines elsewhere) or JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from compiler.commands.output import Column, is_terminal, out, table
from compiler.commands.replay.compare import DIFFERS, SAME, UNKNOWN_VERDICT, Replayed
from compiler.commands.replay.deployed import NOT_DEPLOYED
from compiler.commands.replay.evaluate import Firing, Outcome, Shown
from compiler.commands.replay.window import Window, show_duration, show_time

__all__ = ["Report", "print_report", "report_json", "report_lines"]

_SIGN = {SAME: "=", DIFFERS: "~", UNKNOWN_VERDICT: "?"}
_VERDICT_STYLE = {SAME: "green", DIFFERS: "yellow", UNKNOWN_VERDICT: "red"}


@dataclass
class Report:
    api_url: str
    window: Window
    results: list[Replayed]
    events: int
    checks: int
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def count(self, verdict: str) -> int:
        return sum(1 for r in self.results if r.verdict == verdict)

    @property
    def all_same(self) -> bool:
        return all(r.verdict == SAME for r in self.results)


def _sign(result: Replayed) -> str:
    return "+" if result.deployed.source == NOT_DEPLOYED and result.verdict != SAME else _SIGN[result.verdict]


def _deployed_text(result: Replayed) -> str:
    if result.deployed.source == NOT_DEPLOYED:
        return "not deployed"
    if result.deployed_outcome is None:
        return "unknown"
    return str(result.deployed_outcome.count)


def _runs_text(runs: Counter[str]) -> str:
    total = sum(runs.values())
    return f"{total}" + (f" ({', '.join(f'{n} {state}' for state, n in sorted(runs.items()))})" if total else "")


def _fires_text(outcome: Outcome) -> str:
    text = f"would fire {outcome.count}"
    if outcome.suppressed:
        text += f" ({outcome.suppressed} more suppressed by the cooldown)"
    return text


def _compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_KEY_WORDS = {"event": "event", "condition": "check"}
_STATUS_WORDS = {"unknown": " (as written: uses an earlier action's output)", "skipped": " (skipped)", "fails": " (fails)"}


def _short_key(key: str) -> str:
    """``event 3e276d41``; ``check registry-every-300s`` for a group's check (its id is the group and the check time,
    which starts the line), ``check 58bedef3`` for an earlier per-automation watcher's; a scheduled time says itself
    in the reason."""
    kind, _, value = key.partition(":")
    if kind not in _KEY_WORDS:
        return ""
    group, at, _ = value.partition("@")
    return f"  {_KEY_WORDS[kind]} {group if kind == 'condition' and at else value[:8]}"


def _shown_lines(shown: Shown) -> list[str]:
    lines = [f"      {show_time(shown.at)}{_short_key(shown.key)}  {shown.reason}"]
    for action in shown.actions:
        detail = _compact(action["parameters"]) if "parameters" in action else f"cannot render: {action['error']}"
        lines.append(f"        {action['name']}{_STATUS_WORDS.get(action['status'], '')}: {detail}")
    return lines


def _difference_line(result: Replayed) -> list[str]:
    if result.verdict != DIFFERS:
        return []
    only_working, only_deployed = result.differences()
    parts = []
    if only_working:
        parts.append(f"would fire on {len(only_working)} occurrence(s) the deployed version did not fire on (first {show_time(only_working[0].at)})")
    if only_deployed:
        parts.append(f"would not fire on {len(only_deployed)} occurrence(s) the deployed version fired on (first {show_time(only_deployed[0].at)})")
    return [f"      {'; '.join(parts)}"]


def _details(result: Replayed) -> list[str]:
    lines = _difference_line(result)
    lines.extend(line for shown in result.working.shown for line in _shown_lines(shown))
    lines.extend(f"      note: {note}" for note in (*result.working.notes, *result.deployed.notes))
    return lines


def _headline(result: Replayed) -> str:
    kind = result.loaded.automation.trigger.type
    return (
        f"  {_sign(result)} {result.name} ({kind}): {_fires_text(result.working)}; deployed version: {_deployed_text(result)}; "
        f"runs in the window: {_runs_text(result.runs)}"
    )


def _head(report: Report) -> list[str]:
    window = report.window
    lines = [
        f"Prefect API: {report.api_url}",
        f"Window: {show_time(window.since)} .. {show_time(window.until)} ({show_duration(round(window.seconds))}): "
        f"{report.events:,} event(s) and {report.checks:,} condition check(s) read",
    ]
    lines.extend(f"note: {note}" for note in report.notes)
    return lines


def _summary(report: Report) -> str:
    total = len(report.results)
    if not total:
        return "Replay: no automation to replay."
    parts = [f"{report.count(DIFFERS)} would behave differently from the deployed version"]
    if report.count(UNKNOWN_VERDICT):
        parts.append(f"{report.count(UNKNOWN_VERDICT)} cannot be compared (deployed version unknown)")
    parts.append(f"{report.count(SAME)} the same")
    took = report.seconds.get("total")
    seconds = report.seconds
    timing = (
        f" ({took:.1f} s: starting {seconds.get('load', 0):.1f} s, reading the server {seconds.get('read', 0):.1f} s, "
        f"evaluating {seconds.get('evaluate', 0):.1f} s)" if took else ""
    )
    return f"Replay: {total} automation(s): {', '.join(parts)}.{timing}"


def report_lines(report: Report) -> list[str]:
    """The plain text: header, one block per automation (its first firings rendered), the summary."""
    lines = [*_head(report), ""]
    for result in report.results:
        lines.append(_headline(result))
        lines.extend(_details(result))
    lines.extend(["", _summary(report)])
    return lines


def print_report(report: Report) -> None:
    """A table on a terminal (the first firings below it), the plain lines of ``report_lines`` elsewhere."""
    if not is_terminal():
        for line in report_lines(report):
            out(line)
        return
    for line in _head(report):
        out(line)
    rows = [
        (_sign(r), r.name, r.loaded.automation.trigger.type, r.working.count, r.working.suppressed, _deployed_text(r), _runs_text(r.runs), r.verdict)
        for r in report.results
    ]
    table(
        [Column(""), Column("AUTOMATION"), Column("TRIGGER"), Column("WOULD FIRE", "right"), Column("SUPPRESSED", "right"),
         Column("DEPLOYED", "right"), Column("RUNS"), Column("VERDICT", style=lambda v: _VERDICT_STYLE.get(v, ""))],
        rows,
        [],
    )
    for result in report.results:
        details = _details(result)
        if details:
            out(f"  {result.name}")
            for line in details:
                out(line)
    out(_summary(report))


def _outcome_json(outcome: Outcome | None) -> dict[str, Any] | None:
    if outcome is None:
        return None
    return {"would_fire": outcome.count, "suppressed": outcome.suppressed, "failing": outcome.failing, "notes": list(outcome.notes)}


# Firings listed per side of a difference in --json (the counts are complete): P11's 450,000 firings as a
# list made 45 MB of JSON.
LISTED_DIFFERENCES = 20


def _firings_json(firings: list[Firing]) -> list[dict[str, str]]:
    return [{"time": f.at.isoformat(), "occurrence": f.key} for f in firings[:LISTED_DIFFERENCES]]


def report_json(report: Report) -> dict[str, Any]:
    automations = []
    for r in report.results:
        working = _outcome_json(r.working) or {}
        working["occurrences"] = [s.to_json() for s in r.working.shown]
        deployed = _outcome_json(r.deployed_outcome)
        only_working, only_deployed = r.differences()
        automations.append({
            "name": r.name,
            "trigger": r.loaded.automation.trigger.type,
            "verdict": r.verdict,
            "changed": r.deployed.changed,
            "working_tree": working,
            "deployed": {"source": r.deployed.source, "notes": list(r.deployed.notes), **({"outcome": deployed} if deployed else {})},
            "differences": {
                "only_working_tree": len(only_working), "only_deployed": len(only_deployed),
                "first_only_working_tree": _firings_json(only_working), "first_only_deployed": _firings_json(only_deployed),
            },
            "runs": {"total": sum(r.runs.values()), "states": dict(sorted(r.runs.items()))},
        })
    return {
        "api_url": report.api_url,
        "since": report.window.since.isoformat(),
        "until": report.window.until.isoformat(),
        "events": report.events,
        "condition_checks": report.checks,
        "notes": list(report.notes),
        "automations": automations,
        "summary": {
            "automations": len(report.results),
            SAME: report.count(SAME),
            DIFFERS: report.count(DIFFERS),
            UNKNOWN_VERDICT: report.count(UNKNOWN_VERDICT),
        },
        "seconds": {k: round(v, 3) for k, v in report.seconds.items()},
    }
