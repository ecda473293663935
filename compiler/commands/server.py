"""``python -m compiler server start|stop|status``: the embedded local Prefect server (and the warm runner beside it)."""

from __future__ import annotations

import argparse
from typing import Any

from compiler.commands.output import out
from compiler.commands.warm.control import runner_status, stop_runner

__all__ = ["add_command", "cmd_server"]


def cmd_server(args: argparse.Namespace) -> int:
    # deferred: the local server module costs ~110 ms (measured: httpx, rich); every command loads this module; only server needs it here
    from flows.local_server.server import SERVER_DIR, ensure_local_server, local_server_status, stop_local_server

    if args.action == "start":
        server = ensure_local_server()
        out(f"local Prefect server: {server.ui_url} (pid {server.pid})")
    elif args.action == "stop":
        runner = stop_runner(SERVER_DIR)
        if runner is not None:
            out(f"stopped the warm runner (pid {runner.pid})")
        stopped = stop_local_server()
        out(f"stopped local Prefect server (pid {stopped.pid})" if stopped else "no local server recorded")
    else:
        status = local_server_status()
        out(f"running: {status.ui_url} (pid {status.pid})" if status else "not running")
        runner = runner_status(SERVER_DIR)
        if runner is not None:
            out(f"warm runner: pid {runner.pid} (later runs start from it)")
    return 0


def add_command(sub: Any) -> None:
    p = sub.add_parser("server", help="the embedded local Prefect server used when PREFECT_API_URL is not set")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.set_defaults(func=cmd_server)
