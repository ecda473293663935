"""Run the flow runs of served deployments inside this process, with a graceful drain on shutdown.

Why not Prefect's ``serve()``: measured here it cancels in-flight runs on SIGTERM, pauses its
deployments on exit (deleting their scheduled runs), and starts a new Python process per run
(1.5–2.5 s before the first action). Our flows are async and keep blocking work in threads or child
processes, so running them in this process is safe and reacts in well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterNextScheduledStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
from prefect.states import Crashed, Pending

from flows.local_server.process_records import pid_alive
from flows.prefect_api import clients as api_clients
from flows.prefect_api.paging import read_all
from flows.prefect_api.seam import engine_leaves_sigterm_alone, one_suspension_observer_for_this_loop, run_flow_in_this_process

api_clients.install()  # quick retries of SQLite 503s, one TLS context (see flows/prefect_api/clients.py)

__all__ = ["InProcessExecutor", "crash_orphaned_runs", "owner", "serve_owns_sigterm"]

log = logging.getLogger("platform_god.serve")


def owner() -> str:
    """What this process writes as the infrastructure_pid of the runs it executes (Prefect's worker format)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def serve_owns_sigterm() -> contextlib.AbstractContextManager[None]:
    """Keep SIGTERM with the serving process while flow runs execute in it: Prefect's engine would
    otherwise crash every in-flight run on SIGTERM instead of letting ``drain`` end them (see the seam)."""
    return engine_leaves_sigterm_alone()


@dataclass
class InProcessExecutor:
    """Poll for due runs of our deployments, claim each (SCHEDULED → PENDING is atomic on the server), run it."""

    flows: Mapping[UUID, Flow[..., Any]]  # deployment id → flow
    poll_seconds: float = 0.25
    max_concurrent: int = 8
    # Told when a claimed run starts and when it ends (its final state, or None if it raised, and the
    # seconds it took): serve prints one line each. A hook that raises is logged, never stops serving.
    on_start: Callable[[FlowRun], None] | None = None
    on_finish: Callable[[FlowRun, Any, float], None] | None = None
    # Set once the server's events stream is connected: new runs are taken when announced from then on.
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    _running: dict[UUID, asyncio.Task[Any]] = field(default_factory=dict)
    _accepting: bool = True

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Open it around ``run`` and ``drain``: the runs executed here then share one Prefect API client
        and one suspension observer instead of making their own per run.

        Prefect's engine otherwise opens a new API client per run (a TLS context loaded from certifi and a
        CSRF round trip, ~50 ms each measured) plus a suspension observer (see the seam). Measured with
        benchmarks/p3_event_latency.py's automation, 8 runs: run start → first action median 0.37 s → 0.17 s.
        """
        async with api_clients.shared_api_clients(), one_suspension_observer_for_this_loop():
            yield

    async def _due_runs(self, client: Any, room: int) -> list[FlowRun]:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(self.flows))),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                # Any aware datetime (pydantic validates it); the annotation names Prefect's own DateTime type.
                next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(before_=datetime.now(UTC)),  # type: ignore[arg-type]
            ),
            sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
            limit=room,
        )

    async def _claim(self, client: Any, run: FlowRun) -> bool:
        """Only one claimer wins; the server may also refuse (deployment concurrency limit).

        The winner records itself as the run's ``infrastructure_pid`` ("host:pid", as Prefect's process
        worker does), so a later serve recovers only runs whose process it can see is gone.
        """
        response = await client.set_flow_run_state(run.id, Pending(), force=False)
        if response.status.value != "ACCEPT":
            return False
        await client.update_flow_run(run.id, infrastructure_pid=owner())
        return True

    async def _execute(self, run: FlowRun) -> None:
        flow = self.flows[run.deployment_id]  # type: ignore[index]  # only runs of these deployments are claimed
        state: Any = None
        started = time.monotonic()
        _tell(self.on_start, run)
        try:
            state = await run_flow_in_this_process(flow, run)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.exception("flow run %s raised outside the engine", run.id)
        finally:
            self._running.pop(run.id, None)
            _tell(self.on_finish, run, state, time.monotonic() - started)

    async def run(self, stop: asyncio.Event) -> None:
        """Take new runs until ``stop`` is set: at once when the server announces one, else at each poll."""
        announced = asyncio.Event()
        listener = asyncio.create_task(self._listen_for_new_runs(announced), name="new-run events")
        try:
            async with get_client() as client:
                while not stop.is_set():
                    announced.clear()  # an announcement during this poll triggers the next one at once
                    await self._take_due_runs(client, stop)
                    await _first_of(stop, announced, timeout=self.poll_seconds)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    async def _take_due_runs(self, client: Any, stop: asyncio.Event) -> None:
        room = self.max_concurrent - len(self._running)
        if room <= 0:
            return
        try:
            for run in await self._due_runs(client, room):
                # The cap holds exactly: a run finishing meanwhile frees room only at the next poll.
                if run.id in self._running or stop.is_set() or len(self._running) >= self.max_concurrent:
                    continue
                if await self._claim(client, run):
                    self._running[run.id] = asyncio.create_task(self._execute(run), name=str(run.id))
        except Exception:
            log.warning("polling for runs failed; retrying", exc_info=True)

    async def _listen_for_new_runs(self, announced: asyncio.Event) -> None:
        """Set ``announced`` for every run of our deployments the server schedules (its events stream).

        Polling alone waits half a poll on average (0.125 s at the default 0.25 s) before a new run is
        seen; polling stays, for events missed while the stream reconnects or if it is unavailable.
        """
        wanted = EventFilter(
            event=EventNameFilter(name=["prefect.flow-run.Scheduled"]),
            related=EventRelatedFilter(id=[f"prefect.deployment.{deployment_id}" for deployment_id in self.flows]),
        )
        try:
            async with get_events_subscriber(filter=wanted) as subscriber:
                self.listening.set()
                async for _ in subscriber:
                    announced.set()
        except Exception:
            log.info("the server's events stream is unavailable; new runs are found by polling", exc_info=True)

    async def drain(self, grace_seconds: float) -> list[UUID]:
        """Let in-flight runs finish within the grace period; end the rest Crashed with the reason."""
        pending = dict(self._running)
        if pending:
            await asyncio.wait(list(pending.values()), timeout=grace_seconds)
        unfinished = [run_id for run_id, task in pending.items() if not task.done()]
        for run_id in unfinished:
            pending[run_id].cancel()
        if unfinished:
            await asyncio.gather(*(pending[r] for r in unfinished), return_exceptions=True)
            async with get_client() as client:
                for run_id in unfinished:
                    await client.set_flow_run_state(
                        run_id,
                        Crashed(message=f"serve stopped: the run did not finish within the {grace_seconds:g}s grace period"),
                        force=True,
                    )
        return unfinished


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Return when any of ``events`` is set, or after ``timeout`` seconds."""
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _tell(hook: Callable[..., None] | None, *args: Any) -> None:
    if hook is None:
        return
    try:
        hook(*args)
    except Exception:
        log.warning("run hook failed", exc_info=True)


def _owner_is_gone(infrastructure_pid: str | None) -> bool:
    """True only for "host:pid" of this host whose process is dead; other hosts' runs are not ours to judge."""
    host, _, pid = (infrastructure_pid or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not pid_alive(int(pid))


async def crash_orphaned_runs(deployment_ids: list[UUID]) -> list[UUID]:
    """Runs left RUNNING/PENDING by a killed serve on this machine: nobody executes them any more.

    Ownership is the run's ``infrastructure_pid``. Runs that a worker, another machine's serve or a
    living process here is executing are left alone; a run whose owner on another machine died is
    marked Crashed by the zombie-run automation once its heartbeats stop.
    """
    async with get_client() as client:
        found: list[FlowRun] = await read_all(
            client.read_flow_runs,
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids)),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))
            ),
        )
        orphans = [run for run in found if _owner_is_gone(run.infrastructure_pid)]
        for run in orphans:
            await client.set_flow_run_state(
                run.id,
                Crashed(message=f"its serve process ({run.infrastructure_pid}) was killed; found orphaned at the next start"),
                force=True,
            )
    return [run.id for run in orphans]
