"""``python -m compiler dry-run``: what a run would do, executing nothing; ``automation`` for an automation's
event, metrics document or scheduled time, ``webhook`` for a saved webhook request."""

from __future__ import annotations

from compiler.commands.dry_run.automation import add_command, cmd_dry_run

__all__ = ["add_command", "cmd_dry_run"]
