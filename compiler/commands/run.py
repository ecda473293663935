"""``python -m compiler run``: run an automation's flow now, for real, and print each action's outcome."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from compiler.commands.api_endpoint import begin_api
from compiler.commands.build import zombie_automation
from compiler.commands.cli_failures import api_failure
from compiler.commands.command_inputs import load_named_with_params, read_json, usage
from compiler.commands.output import err, out
from compiler.commands.runs import print_history
from compiler.commands.warm.control import start_runner
from compiler.commands.warm.preload import complete_pydantic_models, import_run_modules
from compiler.language.deploy_config import ensure_prefect_automations
from flows.engine.failure_messages import describe_exception
from flows.events.matching import normalize_event
from flows.prefect_api.history import read_run

__all__ = ["add_command", "cmd_run", "set_run_environment_defaults"]


def _quiet_prefect_failure_echoes() -> None:
    """On the terminal, a failed action is our one line (``action X ended Failed: …`` and the table), not
    Prefect's engine echoes of it (``Task run failed with …``, ``Finished in state Failed(…)``, tracebacks).
    Only the console is filtered: the Prefect API still receives every log line. ``--verbose`` skips this."""
    # deferred: the seam imports Prefect, ~1 s CPU (measured), which reads PREFECT_API_URL as it loads (begin_api sets it first)
    from flows.prefect_api.seam import hide_engine_failure_echoes

    hide_engine_failure_echoes()


def set_run_environment_defaults() -> None:
    """Environment a `run` sets (unless already set) before Prefect is imported; a warm runner's child too.

    Heartbeats let the zombie-run automation end this run Crashed if the process is killed (read by Prefect
    when it is imported; async flows do not wait for the heartbeat thread)."""
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")


def _run_inputs(args: argparse.Namespace) -> tuple[Any, dict[str, Any]] | int:
    """The automation and the flow's parameters of a `run`, or the exit code of a refusal."""
    found = load_named_with_params(args)
    if isinstance(found, int):
        return found
    loaded, params = found
    if args.event:
        try:
            params["event"] = normalize_event(read_json(args.event, "event"))
        except ValueError as exc:
            return usage(f"cannot use event file {args.event}: {exc}")
    if args.idempotency_key:
        params["idempotency_key"] = args.idempotency_key
    return loaded, params


def cmd_run(args: argparse.Namespace) -> int:
    if args.verbose:
        os.environ["AUTOMATIONS_VERBOSE_ERRORS"] = "true"  # read by the engine's failure handling
    inputs = _run_inputs(args)
    if isinstance(inputs, int):
        return inputs  # refused before any server is started
    loaded, params = inputs
    set_run_environment_defaults()
    # An embedded server this starts boots while Prefect is imported and the flow is built.
    api = begin_api()
    if not args.json:
        out(f"Prefect API: {api.url}" + (" (embedded local server; stop it with `python -m compiler server stop`)" if api.embedded else ""))
    # deferred: building flows imports Prefect, ~1 s CPU (measured), which reads PREFECT_API_URL as it loads (begin_api set it
    # above); every command loads this module; validate, list and test never need it
    from flows.engine.flow_factory import build_flow, run_tags

    flow = build_flow(loaded)
    if not args.verbose:
        _quiet_prefect_failure_echoes()
    if api.starting is not None:
        _preload_run()
    api.ready()

    async def run_once() -> Any:
        # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            await ensure_prefect_automations(client, [zombie_automation()])
        with run_tags(loaded.automation):
            return await flow(return_state=True, **params)  # type: ignore[misc]  # an async flow's call is a coroutine

    async def run_then_read() -> tuple[Any, Any]:
        # deferred: the shared clients import Prefect, ~1 s CPU (measured); every command loads this module; validate, list and test never need it
        from flows.prefect_api.clients import shared_api_clients

        # Opening the shared clients checks the API's version: an unreachable API fails here, and is said
        # in one line by the CLI's top level (compiler.commands.cli_failures), like every API failure below.
        async with shared_api_clients():
            try:
                state = await run_once()
            except Exception as exc:  # parameter errors and the like: said below
                if api_failure(exc) is not None:
                    raise  # not a refusal of this run: the API is down or refusing
                return exc, None
            return state, await read_run(state.state_details.flow_run_id)

    state, history = asyncio.run(run_then_read())
    if isinstance(state, Exception):
        err(f"run refused: {describe_exception(state)}")
        return 1
    if args.json:
        out(json.dumps(history.to_json(), indent=2))
    else:
        print_history(history)
    if api.embedded:
        _keep_warm()
    return 0 if state.is_completed() else 1


def _preload_run() -> None:
    """While the embedded server it started boots (~6 s on a fresh checkout), a first run imports and builds
    what its flow call would on first use, with the core the server leaves. P4's first run, medians of 5 runs
    alternating with and without it: 9.09 s vs 10.14 s, and 8.94 s vs 9.19 s in a second round."""
    import_run_modules()
    complete_pydantic_models()


def _keep_warm() -> None:
    """Later runs on the embedded server are handed to a warm runner (P4: ~5 s -> ~1 s); start one if none runs."""
    # deferred: the local server module costs ~110 ms (measured: httpx, rich); every command loads this module; only run and serve need it
    from flows.local_server.server import SERVER_DIR

    start_runner(SERVER_DIR)


def add_command(sub: Any) -> None:
    p = sub.add_parser("run", help="run an automation now, for real, and print each action's outcome")
    p.add_argument("name")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="an input (JSON or text)")
    p.add_argument("--event", type=Path, help="JSON file of the triggering event")
    p.add_argument("--idempotency-key", help="occurrence key: the same key never repeats completed actions")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="also log each failed action's traceback")
    p.set_defaults(func=cmd_run)
