"""``python -m compiler dry-run``: what a run would do, executing nothing; ``automation`` for an automation's
event, metrics document or scheduled time, ``webhook`` for a saved webhook request."""

from __future__ import annotations

from compiler.commands.dry_run.automation import (
    FAILS,
    RUNS,
    SKIPPED,
    UNKNOWN,
    ActionPreview,
    TriggerVerdict,
    add_command,
    cmd_dry_run,
    cooldown_verdict,
    dry_run,
    in_cooldown,
    preview_actions,
    trigger_verdict,
)

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
