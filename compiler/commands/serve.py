"""``python -m compiler serve``: every enabled automation on one machine, with a graceful drain on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from compiler.commands import serve_report
from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.output import err, say
from compiler.commands.serve_lock import LockHeld, ProjectLock
from compiler.commands.webhooks import add_serve_arguments, start_for_serve
from compiler.language.catalog import load_catalog
from compiler.language.cross_machine import environment_warnings
from compiler.language.deploy_config import BuildOptions, apply_limits, apply_prefect_automations
from compiler.language.project import find_project_root

__all__ = ["add_command", "deploy_for_serving", "serve"]

SERVE_LOCK = Path("var/serve.lock")  # under the project root (compiler.language.project), whichever subfolder serve starts in


def _schedules(specs: list[dict[str, Any]]) -> list[Any]:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.schedules import Cron, Interval

    out: list[Any] = []
    for spec in specs:
        if "cron" in spec:
            out.append(Cron(spec["cron"], timezone=spec.get("timezone"), day_or=spec.get("day_or", True), active=spec.get("active", True)))
        else:
            anchor = spec.get("anchor_date")
            out.append(
                Interval(
                    spec["interval"],
                    anchor_date=datetime.fromisoformat(anchor) if anchor else None,
                    timezone=spec.get("timezone"),
                    active=spec.get("active", True),
                )
            )
    return out


async def deploy_for_serving(catalog: Any, trigger_types: frozenset[str] | None = None) -> dict[UUID, Any]:
    """Create or update one deployment per enabled automation (and watcher) with no work pool: served here.

    ``trigger_types`` limits it to automations with those trigger types (the Python API's trigger engine
    serves event and condition automations, its scheduler the time ones); None means all.
    """
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    # deferred: building flows imports Prefect, ~1 s CPU (measured); every command loads this module; validate, list and test never need it
    from compiler.commands.build import concurrency_limits, deployments_for, zombie_automation
    from flows.engine.flow_factory import build_flow

    options = BuildOptions()
    flows: dict[UUID, Any] = {}
    enabled = [
        loaded
        for loaded in catalog.automations.values()
        if loaded.automation.status == "enabled" and (trigger_types is None or loaded.automation.trigger.type in trigger_types)
    ]
    for loaded in sorted(enabled, key=lambda item: item.automation.name):
        automation_flow = build_flow(loaded)
        for spec in deployments_for(loaded.automation, options):
            target = automation_flow
            if spec["entrypoint"].startswith("flows/conditions/watcher.py"):
                # deferred: the watcher imports Prefect, ~1 s CPU (measured); every command loads this module; validate, list and test never need it
                from flows.conditions.watcher import condition_watcher

                target = condition_watcher
            limit = spec.get("concurrency_limit")
            deployment = await target.ato_deployment(
                name=spec["name"],
                schedules=_schedules(spec["schedules"]),
                triggers=[DeploymentEventTrigger.model_validate(t) for t in spec["triggers"]],
                concurrency_limit=ConcurrencyLimitConfig(**limit) if limit else None,
                parameters=spec["parameters"],
                description=spec["description"],
                tags=spec["tags"],
                version=spec["version"],
            )
            deployment.entrypoint = spec["entrypoint"]
            deployment_id = await deployment.aapply()
            flows[deployment_id] = target
    async with get_client() as client:
        await apply_limits(client, concurrency_limits([loaded.automation for loaded in enabled]))
        await apply_prefect_automations(client, [zombie_automation()])
    return flows


async def serve(config_dir: Path, grace_seconds: float, poll_seconds: float,
                webhooks_address: tuple[str | None, int | None] = (None, None)) -> int:
    # deferred: the executor imports Prefect, ~1 s CPU (measured); every command loads this module; validate, list and test never need it
    from flows.engine.executor import InProcessExecutor, crash_orphaned_runs, serve_owns_sigterm

    catalog = load_catalog(config_dir)
    for diagnostic in catalog.diagnostics:
        say(str(diagnostic))
    # serve reads its settings from its own environment (not deploy.yaml): results shared without locks and the like.
    for line in environment_warnings(os.environ, "serve"):
        say(line)
    flows = await deploy_for_serving(catalog)
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
    names = sorted({f.name for f in flows.values()})
    say(f"serving {len(flows)} deployment(s) of {len(catalog.automations)} automation(s): {', '.join(names)}")
    served = [loaded.automation for loaded in catalog.automations.values() if loaded.automation.status == "enabled"]
    serve_report.print_schedule(served)
    executor = InProcessExecutor(
        flows,
        poll_seconds=poll_seconds,
        # The executor only takes runs of these deployments: deployment_id is set and one of the keys.
        on_start=lambda run: serve_report.run_started(run, flows[run.deployment_id].name),  # type: ignore[index]
        on_finish=lambda run, state, seconds: serve_report.run_finished(run, flows[run.deployment_id].name, state, seconds),  # type: ignore[index]
    )
    with serve_owns_sigterm():
        async with executor.session():
            try:
                await executor.run(stop)
            finally:
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
    owned_server = None
    try:
        url = configured_api_url()
        if url is None:
            # deferred: the local server module costs ~110 ms (measured); every command loads this module; validate, list and test never need it
            from flows.local_server.server import SERVER_DIR, local_server_status, start_server

            running = local_server_status(SERVER_DIR)
            if running is None:
                owned_server = running = start_server(SERVER_DIR)
            url = running.api_url
            say(f"Prefect UI: {running.ui_url}  (local server, SQLite under {SERVER_DIR})")
        else:
            say(f"Prefect API: {url}")
        os.environ["PREFECT_API_URL"] = url
        return asyncio.run(serve(args.config_dir, args.grace, args.poll, (args.webhooks_host, args.webhooks_port)))
    finally:
        if owned_server is not None:
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
