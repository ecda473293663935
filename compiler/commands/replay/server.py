"""Everything replay reads from the Prefect server, concurrently and read-only: the deployed objects (as ``plan``
reads them), the window's events and condition checks, the runs that happened, and how long events are kept."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prefect.client.schemas.filters import FlowFilter, FlowFilterId, FlowFilterName, FlowRunFilter, FlowRunFilterExpectedStartTime
from pydantic import TypeAdapter

from compiler.commands.plan.observed import ObservedState, read_server
from compiler.commands.replay.deployed import deployed_event_patterns
from compiler.commands.replay.fetch import event_prefixes, read_events
from compiler.commands.replay.window import Window
from compiler.language.prefect_names import cooldown_limit_name
from flows.prefect_api.paging import read_all

__all__ = ["ServerHistory", "read_history"]


@dataclass
class ServerHistory:
    observed: ObservedState
    events: list[dict[str, Any]]
    runs: dict[str, Counter[str]]  # automation → state name → runs whose expected start is in the window
    retention: timedelta | None  # None: the server did not say
    seconds: dict[str, float] = field(default_factory=dict)


async def _timed(seconds: dict[str, float], key: str, work: Any) -> Any:
    started = time.perf_counter()
    try:
        return await work
    finally:
        seconds[key] = time.perf_counter() - started


async def _runs(client: Any, names: list[str], window: Window) -> dict[str, Counter[str]]:
    """Flow runs of the automations' flows expected to start in the window, counted by state name."""
    if not names:
        return {}
    flows = await read_all(client.read_flows, flow_filter=FlowFilter(name=FlowFilterName(any_=names)))
    flow_names = {f.id: f.name for f in flows}
    counts: dict[str, Counter[str]] = {}
    if not flow_names:
        return counts
    runs = await read_all(
        client.read_flow_runs,
        flow_filter=FlowFilter(id=FlowFilterId(any_=sorted(flow_names, key=str))),
        flow_run_filter=FlowRunFilter(
            # Any aware datetime (pydantic validates it); the annotation names Prefect's own DateTime type.
            expected_start_time=FlowRunFilterExpectedStartTime(after_=window.since, before_=window.until),  # type: ignore[arg-type]
        ),
    )
    for run in runs:
        state = run.state.name if run.state else "Unknown"
        counts.setdefault(flow_names.get(run.flow_id, "?"), Counter())[state] += 1
    return counts


async def _retention(client: Any) -> timedelta | None:
    """The server's PREFECT_EVENTS_RETENTION_PERIOD (its settings endpoint); None when it does not answer."""
    try:
        response = await client.request("GET", "/admin/settings")
        response.raise_for_status()
        value = response.json()["server"]["events"]["retention_period"]
        return TypeAdapter(timedelta).validate_python(value)
    except Exception:  # noqa: BLE001 - an older or locked-down server: the default is assumed and said so
        return None


async def read_history(
    client: Any,
    *,
    window: Window,
    names: list[str],
    work_pool: str,
    prefixes: list[str],
    progress: Callable[[int, int], None] | None = None,
) -> ServerHistory:
    """Read what replay needs; raises what the client raises (the command says it in one line)."""
    seconds: dict[str, float] = {}
    observed, events, runs, retention = await asyncio.gather(
        _timed(seconds, "server", read_server(
            # Only the replayed automations' own deployments (a condition automation's too: its checks start its runs),
            # not every deployment of ours (plan's prune candidates) nor the group watchers (the checks record what they checked).
            client, work_pool=work_pool, deployment_names=names, limit_names=[cooldown_limit_name(n) for n in names], tag=None
        )),
        _timed(seconds, "events", read_events(client, window.since, window.until, prefixes, progress=progress)),
        _timed(seconds, "runs", _runs(client, names, window)),
        _retention(client),
    )
    # The deployed versions may listen to other events (a changed event type): read those too.
    wanted = event_prefixes([p for name in names for p in deployed_event_patterns(name, observed)])
    extra = [p for p in wanted if not any(p.startswith(have) for have in prefixes)]
    if extra:
        started = time.perf_counter()
        events.extend(await read_events(client, window.since, window.until, extra, progress=progress))
        seconds["events"] += time.perf_counter() - started
    return ServerHistory(observed, events, runs, retention, seconds)
