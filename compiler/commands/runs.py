"""``python -m compiler runs``: run history from the Prefect API, one table per run with a line per action."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from compiler.commands.api_endpoint import use_api
from compiler.commands.output import Column, out, status_style, table
from flows.engine.failure_messages import plain_message
from flows.prefect_api.history import read_runs

__all__ = ["add_command", "cmd_runs", "print_history"]


def _format_history(history: Any) -> list[str]:
    """One line per action; a failed action's line carries its whole message (one line, escaped)."""
    lines = [_history_title(history)]
    lines.append(f"  {'ACTION':<28} {'STATUS':<12} {'ATTEMPTS':>8} {'DURATION':>9}  SUMMARY")
    for action in history.actions:
        lines.append(f"  {action.name:<28} {action.status:<12} {action.attempts:>8} {action.duration_s:>8.2f}s  {_detail(action)}")
    return lines


def _history_title(history: Any) -> str:
    return (f"{history.automation} run '{history.name}' ({history.id}): {history.status}"
            + (f" — {plain_message(history.message)}" if history.message else ""))


def _detail(action: Any) -> str:
    detail = plain_message(action.summary or action.message)
    if action.status in ("Completed", "Cached", "Skipped") and len(detail) > 100:
        detail = detail[:99] + "…"  # a success's summary is a hint; a failure's message is the point
    return detail


def print_history(history: Any) -> None:
    """A run's actions: a table on a terminal, the plain lines of ``_format_history`` elsewhere."""
    table(
        [Column("ACTION"), Column("STATUS", style=status_style), Column("ATTEMPTS", "right"), Column("DURATION", "right"),
         Column("SUMMARY")],
        [(a.name, a.status, a.attempts, f"{a.duration_s:.2f}s", _detail(a)) for a in history.actions],
        _format_history(history),
        title=_history_title(history),
    )


def cmd_runs(args: argparse.Namespace) -> int:
    use_api()  # before Prefect is imported (read_runs imports it): it reads PREFECT_API_URL as it loads
    histories = asyncio.run(read_runs(args.name, args.limit))
    if args.json:
        out(json.dumps([h.to_json() for h in histories], indent=2))
        return 0
    if args.name:
        _print_last_check(args.name)
    if not histories:
        out("no runs found")
    for history in histories:
        print_history(history)
        out()
    return 0


def _print_last_check(name: str) -> None:
    """For a condition automation: its last check (checks that start nothing are not runs, so not listed below)."""
    # deferred: the checks read the registry and the definitions; only `runs NAME` needs them
    from flows.conditions.checks import last_check
    from flows.engine.definitions import load_automation
    from flows.registry import RegistryError

    try:
        automation = load_automation(name).automation
        if automation.trigger.type != "condition":
            return  # only condition automations are checked
        check = last_check(automation)
    except (KeyError, RegistryError):
        return
    if check is None:
        out("last condition check: none recorded yet")
        return
    value = json.dumps(check.get("value"), ensure_ascii=False)
    did = {"started": f"; started run {check.get('flow_run_id')}", "cooldown": "; in cooldown, no run"}.get(check.get("action") or "", "")
    out(f"last condition check {check.get('check_id')} at {check.get('checked_at')}: {check.get('state')} (value {value}): "
        f"{check.get('reason')}{did}")
    out()


def add_command(sub: Any) -> None:
    p = sub.add_parser("runs", help="run history from the Prefect API")
    p.add_argument("name", nargs="?")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)
