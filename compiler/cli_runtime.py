"""Command line: run, runs, dry-run and the local server (build, deploy and serve are added by their modules)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import Any

from compiler.output import Column, err, out, status_style, table

__all__ = ["add_commands"]


def _parse_params(pairs: list[str]) -> dict[str, Any] | None:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            err(f"--param expects KEY=VALUE, got '{pair}'")
            return None
        try:
            params[key] = json.loads(raw)  # numbers, booleans, lists and mappings as JSON
        except ValueError:
            params[key] = raw
    return params


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(_usage(f"cannot read {what} file {path}: {exc}"))


def _usage(message: str) -> int:
    err(message)
    return 2


def _load(args: argparse.Namespace) -> Any:
    from compiler.catalog import load_catalog

    catalog = load_catalog(args.config_dir)
    try:
        return catalog.get(args.name)
    except KeyError as exc:
        err(str(exc.args[0]))
        for diagnostic in catalog.errors:
            err(str(diagnostic))
        return None


def _format_history(history: Any) -> list[str]:
    """One line per action; a failed action's line carries its whole message (one line, escaped)."""
    lines = [_history_title(history)]
    lines.append(f"  {'ACTION':<28} {'STATUS':<12} {'ATTEMPTS':>8} {'DURATION':>9}  SUMMARY")
    for action in history.actions:
        lines.append(f"  {action.name:<28} {action.status:<12} {action.attempts:>8} {action.duration_s:>8.2f}s  {_detail(action)}")
    return lines


def _history_title(history: Any) -> str:
    from flows.messages import plain_message

    return (f"{history.automation} run '{history.name}' ({history.id}): {history.status}"
            + (f" — {plain_message(history.message)}" if history.message else ""))


def _detail(action: Any) -> str:
    from flows.messages import plain_message

    detail = plain_message(action.summary or action.message)
    if action.status in ("Completed", "Cached", "Skipped") and len(detail) > 100:
        detail = detail[:99] + "…"  # a success's summary is a hint; a failure's message is the point
    return detail


def _print_history(history: Any) -> None:
    """A run's actions: a table on a terminal, the plain lines of ``_format_history`` elsewhere."""
    table(
        [Column("ACTION"), Column("STATUS", style=status_style), Column("ATTEMPTS", "right"), Column("DURATION", "right"),
         Column("SUMMARY")],
        [(a.name, a.status, a.attempts, f"{a.duration_s:.2f}s", _detail(a)) for a in history.actions],
        _format_history(history),
        title=_history_title(history),
    )


def _set_env(name: str, value: str) -> None:
    import os

    os.environ[name] = value


def _quiet_prefect_failure_echoes() -> None:
    """On the terminal, a failed action is our one line (``action X ended Failed: …`` and the table), not
    Prefect's engine echoes of it (``Task run failed with …``, ``Finished in state Failed(…)``, tracebacks).
    Only the console is filtered: the Prefect API still receives every log line. ``--verbose`` skips this."""
    from flows.prefect_seam import hide_engine_failure_echoes

    hide_engine_failure_echoes()


def set_run_environment_defaults() -> None:
    """Environment a `run` sets (unless already set) before Prefect is imported; a warm runner's child too.

    Heartbeats let the zombie-run automation end this run Crashed if the process is killed (read by Prefect
    when it is imported; async flows do not wait for the heartbeat thread)."""
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "30")


def _run_inputs(args: argparse.Namespace) -> tuple[Any, dict[str, Any]] | int:
    """The automation and the flow's parameters of a `run`, or the exit code of a refusal."""
    loaded = _load(args)
    if loaded is None:
        return 1
    params = _parse_params(args.param)
    if params is None:
        return 2
    if args.event:
        from flows.event_match import normalize_event

        params["event"] = normalize_event(_read_json(args.event, "event"))
    if args.idempotency_key:
        params["idempotency_key"] = args.idempotency_key
    return loaded, params


def cmd_run(args: argparse.Namespace) -> int:
    from compiler.api_target import begin_api

    if args.verbose:
        _set_env("AUTOMATIONS_VERBOSE_ERRORS", "true")  # read by the engine's failure handling
    inputs = _run_inputs(args)
    if isinstance(inputs, int):
        return inputs  # refused before any server is started
    loaded, params = inputs
    set_run_environment_defaults()
    # An embedded server this starts boots while Prefect is imported and the flow is built.
    api = begin_api()
    if not args.json:
        out(f"Prefect API: {api.url}" + (" (embedded local server; stop it with `python -m compiler server stop`)" if api.embedded else ""))
    from flows.flow_factory import build_flow, run_tags
    from flows.history import read_run

    flow = build_flow(loaded)
    if not args.verbose:
        _quiet_prefect_failure_echoes()
    if api.starting is not None:
        _preload_run()
    api.ready()

    async def run_once() -> Any:
        from prefect.client.orchestration import get_client

        from compiler.build import zombie_automation
        from compiler.deploy_config import ensure_prefect_automations

        async with get_client() as client:
            await ensure_prefect_automations(client, [zombie_automation()])
        with run_tags(loaded.automation):
            return await flow(return_state=True, **params)

    async def run_then_read() -> tuple[Any, Any]:
        from flows.api_clients import shared_api_clients

        async with shared_api_clients():
            try:
                state = await run_once()
            except Exception as exc:  # noqa: BLE001 - parameter errors and the like: said below
                return exc, None
            return state, await read_run(state.state_details.flow_run_id)

    state, history = asyncio.run(run_then_read())
    if isinstance(state, Exception):
        from flows.messages import describe_exception

        err(f"run refused: {describe_exception(state)}")
        return 1
    if args.json:
        out(json.dumps(history.to_json(), indent=2))
    else:
        _print_history(history)
    if api.embedded:
        _keep_warm()
    return 0 if state.is_completed() else 1


def _preload_run() -> None:
    """While the embedded server it started boots (~6 s on a fresh checkout), a first run imports and builds
    what its flow call would on first use, with the core the server leaves. P4's first run, medians of 5 runs
    alternating with and without it: 9.09 s vs 10.14 s, and 8.94 s vs 9.19 s in a second round."""
    from compiler.warm.preload import complete_pydantic_models, import_run_modules

    import_run_modules()
    complete_pydantic_models()


def _keep_warm() -> None:
    """Later runs on the embedded server are handed to a warm runner (P4: ~5 s -> ~1 s); start one if none runs."""
    from compiler.warm.control import start_runner
    from flows.local_server import SERVER_DIR

    start_runner(SERVER_DIR)


def cmd_runs(args: argparse.Namespace) -> int:
    from compiler.api_target import use_api

    use_api()
    from flows.history import read_runs

    histories = asyncio.run(read_runs(args.name, args.limit))
    if args.json:
        out(json.dumps([h.to_json() for h in histories], indent=2))
        return 0
    if not histories:
        out("no runs found")
    for history in histories:
        _print_history(history)
        out()
    return 0


def cmd_dry_run(args: argparse.Namespace) -> int:
    from compiler.dry_run import dry_run

    if getattr(args, "request", None):
        from compiler.webhooks_cli import cmd_dry_run_webhook

        return cmd_dry_run_webhook(args)  # NAME is a webhook
    loaded = _load(args)
    if loaded is None:
        return 1
    params = _parse_params(args.param)
    if params is None:
        return 2
    event = _read_json(args.event, "event") if args.event else None
    metrics = _read_json(args.metrics, "metrics") if args.metrics else None
    try:
        report = asyncio.run(dry_run(loaded, event=event, metrics=metrics, params=params))
    except ValueError as exc:
        return _usage(str(exc))
    if args.json:
        out(json.dumps(report, indent=2, default=str))
        return 0
    out(f"{loaded.automation.name}: would {'FIRE' if report['would_fire'] else 'NOT fire'}")
    for reason in report["reasons"]:
        out(f"  - {reason}")
    for action in report["actions"]:
        out(f"  action {action['name']} ({action['type']}):")
        if "parameters" in action:
            out("    " + json.dumps(action["parameters"], default=str))
        else:
            out(f"    cannot render: {action['error']}")
        if "note" in action:
            out(f"    note: {action['note']}")
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    from compiler.warm.control import runner_status, stop_runner
    from flows.local_server import SERVER_DIR, ensure_local_server, local_server_status, stop_local_server

    if args.action == "start":
        server = ensure_local_server()
        out(f"local Prefect server: {server.ui_url} (pid {server.pid})")
    elif args.action == "stop":
        runner = stop_runner(SERVER_DIR)
        if runner is not None:
            out(f"stopped the warm runner (pid {runner.pid})")
        server = stop_local_server()
        out(f"stopped local Prefect server (pid {server.pid})" if server else "no local server recorded")
    else:
        server = local_server_status()
        out(f"running: {server.ui_url} (pid {server.pid})" if server else "not running")
        runner = runner_status(SERVER_DIR)
        if runner is not None:
            out(f"warm runner: pid {runner.pid} (later runs start from it)")
    return 0


def add_commands(sub: Any) -> None:
    """Register the runtime commands on the main parser."""
    p = sub.add_parser("run", help="run an automation now, for real, and print each action's outcome")
    p.add_argument("name")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="an input (JSON or text)")
    p.add_argument("--event", type=Path, help="JSON file of the triggering event")
    p.add_argument("--idempotency-key", help="occurrence key: the same key never repeats completed actions")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="also log each failed action's traceback")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="run history from the Prefect API")
    p.add_argument("name", nargs="?")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("dry-run", help="would the trigger fire, and what would each action do (executes nothing)")
    p.add_argument("name")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--event", type=Path, help="JSON file of an event")
    group.add_argument("--metrics", type=Path, help="JSON file of a metrics document")
    group.add_argument("--request", type=Path, help="JSON file of a saved webhook request {headers, body}: NAME is then a webhook")
    p.add_argument("--param", action="append", default=[], metavar="K=V")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dry_run)

    p = sub.add_parser("server", help="the embedded local Prefect server used when PREFECT_API_URL is not set")
    p.add_argument("action", choices=("start", "stop", "status"))
    p.set_defaults(func=cmd_server)

    from compiler import build, deploy, serve, webhooks_cli
    from compiler.casetests import command as casetests
    from compiler.plan import command as plan
    from compiler.replay import command as replay

    for module in (build, deploy, plan, casetests, serve, webhooks_cli, replay):
        module.add_command(sub)
