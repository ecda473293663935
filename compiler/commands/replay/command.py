"""``python -m compiler replay [NAME…] --since 24h``: exit 0 when every automation would have fired as the deployed
version did, 2 when some would not, 1 on error; reads the server, writes nothing anywhere, executes nothing."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from compiler.commands.api_endpoint import begin_api
from compiler.commands.output import err, out, progress
from compiler.language.catalog import load_catalog
from compiler.language.deploy_config import resolve_build_options
from compiler.language.prefect_names import CONDITION_CHECKED_EVENT, event_name
from flows.engine.failure_messages import describe_exception, plain_message

__all__ = ["EXIT_DIFFERENT", "EXIT_ERROR", "EXIT_SAME", "add_command", "cmd_replay"]

EXIT_SAME, EXIT_ERROR, EXIT_DIFFERENT = 0, 1, 2
DEFAULT_RETENTION = timedelta(days=7)  # Prefect's PREFECT_EVENTS_RETENTION_PERIOD default


class ReplayError(RuntimeError):
    """The server could not be read; the message says why."""


def add_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``replay`` on the main parser's subparsers (which provides ``--config-dir``)."""
    p = subparsers.add_parser(
        "replay",
        help="what the automations of the working tree would have done on the server's events of a past window, "
        "next to the deployed version (exit 0 the same, 2 different, 1 error); executes nothing",
        description=(
            "Evaluate every automation of the working tree (or the NAMEs) against the events, cron times and recorded "
            "condition checks of a past window on the configured Prefect server, with the matcher, filters, templates "
            "and cooldown rules of production; compare with the deployed version and the runs that happened. Read-only."
        ),
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="automations to replay (default: all)")
    p.add_argument("--since", default="24h", help="start of the window: a duration before now (90m, 24h, 7d) or an ISO 8601 time (default 24h)")
    p.add_argument("--until", help="end of the window, the same forms (default: now)")
    p.add_argument("--changed", action="store_true", help="only automations whose definition differs from the deployed one")
    p.add_argument("--show", type=int, default=3, metavar="N", help="firings rendered per automation (default 3)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--pool", dest="work_pool", help="work pool deploy uses (default: deploy.yaml's work_pool, else automations)")
    p.set_defaults(func=cmd_replay)
    return p


def _patterns(selected: list[Any]) -> list[str]:
    """Event names (globs) the working tree's automations listen to."""
    found = []
    for loaded in selected:
        trigger = loaded.automation.trigger
        if trigger.type == "event":
            found.append(event_name(trigger.event.event_type, trigger.event.custom_type))
        elif trigger.type == "condition":
            found.append(CONDITION_CHECKED_EVENT)
    return found


async def _read(api_url: str, **kwargs: Any) -> Any:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # deferred: replay's own modules cost ~10-25 ms to import (measured, noisy machine); every command loads this module
    from compiler.commands.replay.server import read_history

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        async with get_client() as client:
            problem = await client.api_healthcheck()
            if problem is not None:
                raise ReplayError(f"cannot reach the Prefect API at {api_url}: {problem}")
            return await read_history(client, **kwargs)


def _span(length: timedelta) -> str:
    seconds = length.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}{'s' if seconds != size else ''}"
    return f"{seconds / 3600:.1f} hours"


def _retention_note(retention: timedelta | None, since: datetime, now: datetime) -> str | None:
    kept = retention or DEFAULT_RETENTION
    if since >= now - kept:
        return None
    said = "" if retention else " (Prefect's default: the server did not say)"
    return (
        f"the window is larger than what the server keeps: events for {_span(kept)}{said} (PREFECT_EVENTS_RETENTION_PERIOD), "
        f"so nothing is stored before {(now - kept).isoformat(timespec='seconds')} ({_span(now - kept - since)} of the window)"
    )


def _selected(args: argparse.Namespace) -> list[Any] | None:
    catalog = load_catalog(args.config_dir)
    for diagnostic in catalog.errors:
        err(str(diagnostic))
    if catalog.errors:
        err(f"replay: {len(catalog.errors)} error(s) in the configuration (see `validate`)")
        return None
    try:
        return [catalog.get(name) for name in args.names] if args.names else list(catalog.automations.values())
    except KeyError as exc:
        err(f"replay: {exc.args[0]}")
        return None


def cmd_replay(args: argparse.Namespace) -> int:
    # deferred: replay's own modules cost ~10-25 ms to import (measured, noisy machine); every command loads this module
    from compiler.commands.replay.window import parse_window

    started = time.perf_counter()
    now = datetime.now(UTC)
    try:
        window = parse_window(args.since, args.until, now)
    except ValueError as exc:
        err(f"replay: {exc}")
        return EXIT_ERROR
    selected = _selected(args)
    if selected is None:
        return EXIT_ERROR
    options, problems = resolve_build_options(args.config_dir, work_pool=args.work_pool)
    if options is None:
        for diagnostic in problems:
            err(str(diagnostic))
        return EXIT_ERROR
    api = begin_api()
    # deferred: imported while an embedded server starts (as `run` does), and not counted as reading the server:
    # Prefect costs ~1 s CPU (measured) and reads PREFECT_API_URL as it loads (begin_api sets it first); replay's
    # own modules ~10-25 ms; every command loads this module
    import prefect.client.orchestration  # noqa: F401

    from compiler.commands.replay import server as _server  # noqa: F401
    from compiler.commands.replay.compare import replay_all
    from compiler.commands.replay.fetch import event_prefixes
    from compiler.commands.replay.history import History
    from compiler.commands.replay.report import Report, print_report, report_json

    names = sorted(loaded.automation.name for loaded in selected)
    try:
        api.ready()
        reading = time.perf_counter()
        with progress("reading events", minimum=2000) as update:
            server = asyncio.run(_read(
                api.url, window=window, names=names, work_pool=options.work_pool,
                prefixes=event_prefixes(_patterns(selected)), progress=update,
            ))
    except ReplayError as exc:
        err(f"replay failed: {plain_message(str(exc))}")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - any failed read is "cannot replay", with the reason, in one line
        err(f"replay failed: reading the Prefect API at {api.url} failed: {describe_exception(exc)}")
        return EXIT_ERROR
    read_done = time.perf_counter()
    history = History.build(window, server.events)
    results = replay_all(selected, history, server.observed, server.runs, shown=max(args.show, 0))
    if args.changed:
        results = [r for r in results if r.deployed.changed]
    done = time.perf_counter()
    notes = [note for note in (_retention_note(server.retention, window.since, now),) if note]
    if api.embedded:
        notes.append("the embedded local server (no PREFECT_API_URL configured): its history is this machine's runs")
    # load: the configuration, imports and the embedded server's start; read: the server; evaluate: the replay.
    seconds = {"load": reading - started, "read": read_done - reading, "evaluate": done - read_done, "total": done - started,
               **{f"read_{k}": v for k, v in server.seconds.items()}}
    report = Report(api.url, window, results, len(history.events), history.check_count, notes, seconds)
    if args.json:
        out(json.dumps(report_json(report), indent=2, default=str))
    else:
        print_report(report)
    return EXIT_SAME if report.all_same else EXIT_DIFFERENT
