"""``python -m compiler serve``: the command (command.py), its one-per-project lock (lock.py), its deployments registered in
bulk (register.py) and what it prints (report.py)."""

from __future__ import annotations

from compiler.commands.serve.command import SERVE_LOCK, add_command, condition_checker, deploy_for_serving, serve

__all__ = ["SERVE_LOCK", "add_command", "condition_checker", "deploy_for_serving", "serve"]
