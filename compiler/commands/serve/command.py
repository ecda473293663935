"""``python -m compiler serve``: every enabled automation on one machine, with a graceful drain on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.output import err, say
from compiler.commands.serve import report as serve_report
from compiler.commands.serve.lock import LockHeld, ProjectLock
from compiler.commands.webhooks import add_serve_arguments, start_for_serve
from compiler.language.catalog import load_catalog
from compiler.language.condition_groups import condition_groups
from compiler.language.cross_machine import environment_warnings
from compiler.language.project import find_project_root

__all__ = ["add_command", "condition_checker", "deploy_for_serving", "serve"]

SERVE_LOCK = Path("var/serve.lock")  # under the project root (compiler.language.project), whichever subfolder serve starts in
_NAMES_SHOWN = 20  # the "serving" line names this many automations, then says how many more


async def deploy_for_serving(catalog: Any, trigger_types: frozenset[str] | None = None) -> Mapping[UUID, Any]:
    """Create or update one deployment per enabled automation with no work pool (served here); deployment id →
    the automation's flow (built on first use). ``trigger_types`` limits it to automations with those trigger
    types (the Python API's trigger engine serves event and condition automations, its scheduler the time
    ones); None means all. Condition checks run in the serving process (``condition_checker``)."""
    # deferred: registering imports Prefect, ~1 s CPU (measured); every command loads this module; validate, list and test never need it
    from compiler.commands.serve.register import LazyFlows, register_for_serving

    return LazyFlows((await register_for_serving(catalog, trigger_types)).automations)


def condition_checker(registration: Any, on_report: Any = None) -> Any:
    """The in-process checks of the served condition automations' groups (no flow run per check)."""
    # deferred: the checker imports Prefect, ~1 s CPU (measured); every command loads this module; validate, list and test never need it
    from flows.conditions.checker import ConditionChecker

    groups = condition_groups(loaded.automation for loaded in registration.automations.values())
    return ConditionChecker(groups, registration.ids, on_report=on_report)


async def serve(config_dir: Path, grace_seconds: float, poll_seconds: float,
                webhooks_address: tuple[str | None, int | None] = (None, None),
                wait_for_server: Callable[[], Any] | None = None) -> int:
    # deferred: registering and the executor import Prefect, ~1 s CPU (measured); every command loads this module;
    # validate, list and test never need it
    from compiler.commands.serve.register import LazyFlows, desired_for_serving, register_for_serving
    from flows.engine.executor import InProcessExecutor, crash_orphaned_runs, serve_owns_sigterm

    catalog = load_catalog(config_dir)
    for diagnostic in catalog.diagnostics:
        say(str(diagnostic))
    # serve reads its settings from its own environment (not deploy.yaml): results shared without locks and the like.
    for line in environment_warnings(os.environ, "serve"):
        say(line)
    desired = desired_for_serving(catalog)  # while an embedded server starts
    if wait_for_server is not None:
        await asyncio.to_thread(wait_for_server)
    registration = await register_for_serving(catalog, desired=desired)
    flows = LazyFlows(registration.automations)
    say(registration.summary())
    orphans = await crash_orphaned_runs(list(flows))
    if orphans:
        say(f"marked {len(orphans)} orphaned run(s) of a previous serve Crashed")

    receiver, receiver_ok = start_for_serve(config_dir, *webhooks_address, say=say)  # only when configs/webhooks/ has some
    if not receiver_ok:
        return 1

    stop = asyncio.Event()
    signals_seen: list[int] = []
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        signals_seen.append(signum)
        if len(signals_seen) == 1:
            say(f"{signal.Signals(signum).name}: taking no new runs; draining in-flight runs (up to {grace_seconds:g}s)")
        stop.set()

    # Before "serving" is printed: whoever waits for that line may stop serve at once (a SIGTERM between the line
    # and these handlers ended the process -15 instead of draining).
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    names = [flows.name(deployment_id) for deployment_id in flows]
    shown = ", ".join(names if len(names) <= _NAMES_SHOWN else [*names[:_NAMES_SHOWN], f"… and {len(names) - _NAMES_SHOWN} more"])
    say(f"serving {len(flows)} deployment(s) of {len(catalog.automations)} automation(s): {shown}")
    checker = condition_checker(registration, on_report=serve_report.check_reported)
    serve_report.print_checks(checker.groups)
    served = [loaded.automation for loaded in registration.automations.values()]
    serve_report.print_schedule(served)

    executor = InProcessExecutor(
        flows,
        poll_seconds=poll_seconds,
        # The executor only takes runs of these deployments: deployment_id is set and one of the keys.
        on_start=lambda run: serve_report.run_started(run, flows.name(run.deployment_id)),  # type: ignore[arg-type]
        on_finish=lambda run, state, seconds: serve_report.run_finished(run, flows.name(run.deployment_id), state, seconds),  # type: ignore[arg-type]
    )
    with serve_owns_sigterm():
        async with executor.session():
            checks = asyncio.create_task(checker.run(stop), name="condition checks")
            try:
                await executor.run(stop)
            finally:
                await asyncio.gather(checks, return_exceptions=True)  # no check starts a run from here on
                if receiver is not None:
                    await asyncio.to_thread(receiver.stop)  # no new webhook events while draining
            unfinished = await executor.drain(grace_seconds)
    if unfinished:
        say(f"ended {len(unfinished)} unfinished run(s) Crashed after the grace period")
    say("stopped; deployments stay scheduled for the next serve")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    lock = ProjectLock(find_project_root() / SERVE_LOCK)
    try:
        lock.acquire()
    except LockHeld as exc:
        err(f"serve: {exc}")
        return 1
    # Heartbeats let the zombie-run automation mark runs Crashed if this process is killed.
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")
    owned_server = False
    try:
        url = configured_api_url()
        wait_for_server = None
        if url is None:
            # deferred: the local server module costs ~110 ms (measured); every command loads this module; validate, list and test never need it
            from flows.local_server.server import SERVER_DIR, StartingServer, begin_local_server

            # Not waited for here: the automations are loaded and compared while it starts (P13: ready time).
            server = begin_local_server(SERVER_DIR)
            if isinstance(server, StartingServer):
                owned_server, wait_for_server = server.proc is not None, server.wait
                server = server.server
            url = server.api_url
            say(f"Prefect UI: {server.ui_url}  (local server, SQLite under {SERVER_DIR})")
        else:
            say(f"Prefect API: {url}")
        os.environ["PREFECT_API_URL"] = url
        return asyncio.run(serve(args.config_dir, args.grace, args.poll, (args.webhooks_host, args.webhooks_port), wait_for_server))
    finally:
        if owned_server:
            # deferred: the local server module costs ~110 ms (measured); every command loads this module; validate, list and test never need it
            from flows.local_server.server import SERVER_DIR, stop_local_server

            if "prefect" in sys.modules:
                # deferred: the seam imports Prefect, ~1 s CPU (measured); every command loads this module; validate, list and test never need it
                from flows.prefect_api.seam import send_queued_events_and_logs

                send_queued_events_and_logs()  # while the server still answers
            stop_local_server(SERVER_DIR)
        lock.release()


def add_command(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve every enabled automation here (starts a local Prefect server if none is configured)")
    p.add_argument("--grace", type=float, default=30.0, help="seconds in-flight runs get to finish on SIGTERM/SIGINT")
    p.add_argument("--poll", type=float, default=0.25, help="seconds between checks for due runs")

    add_serve_arguments(p)
    p.set_defaults(func=cmd_serve)
