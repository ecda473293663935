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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
from prefect.flow_engine import run_flow_async
from prefect.states import Crashed, Pending

from flows import api_retry

api_retry.install()  # quick retries of SQLite 503s (see flows/api_retry.py)

__all__ = ["InProcessExecutor", "crash_orphaned_runs", "serve_owns_sigterm"]

log = logging.getLogger("platform_god.serve")


@contextlib.contextmanager
def serve_owns_sigterm() -> Iterator[None]:
    """Keep SIGTERM with the serving process while flow runs execute in it.

    Prefect's flow engine wraps every run in ``capture_sigterm()``, which replaces the process's
    SIGTERM handler with one that raises ``TerminationSignal`` in the main thread. In a process of its
    own that turns a kill into a Crashed run; here it would crash every in-flight run and the serve
    loop itself instead of letting our handler start the drain. So, while serving, the engine's
    capture is a no-op: shutdown is ours (``drain``).
    """
    import prefect.flow_engine as engine

    original = engine.capture_sigterm
    engine.capture_sigterm = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.capture_sigterm = original


@dataclass
class InProcessExecutor:
    """Poll for due runs of our deployments, claim each (SCHEDULED → PENDING is atomic on the server), run it."""

    flows: Mapping[UUID, Flow[..., Any]]  # deployment id → flow
    poll_seconds: float = 0.25
    max_concurrent: int = 8
    _running: dict[UUID, asyncio.Task[Any]] = field(default_factory=dict)
    _accepting: bool = True

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def _due_runs(self, client: Any) -> list[FlowRun]:
        return await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=list(self.flows))),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
                next_scheduled_start_time=FlowRunFilterNextScheduledStartTime(before_=datetime.now(timezone.utc)),
            ),
            sort=FlowRunSort.NEXT_SCHEDULED_START_TIME_ASC,
            limit=self.max_concurrent,
        )

    async def _claim(self, client: Any, run: FlowRun) -> bool:
        """Only one claimer wins; the server may also refuse (deployment concurrency limit)."""
        response = await client.set_flow_run_state(run.id, Pending(), force=False)
        return response.status.value == "ACCEPT"

    async def _execute(self, run: FlowRun) -> None:
        flow = self.flows[run.deployment_id]  # type: ignore[index]
        try:
            await run_flow_async(flow, flow_run=run, parameters=run.parameters, return_type="state")
        except BaseException as exc:  # noqa: BLE001 - the engine already recorded the state; keep serving
            if isinstance(exc, asyncio.CancelledError):
                raise
            log.exception("flow run %s raised outside the engine", run.id)
        finally:
            self._running.pop(run.id, None)

    async def run(self, stop: asyncio.Event) -> None:
        """Take new runs until ``stop`` is set."""
        async with get_client() as client:
            while not stop.is_set():
                if len(self._running) < self.max_concurrent:
                    try:
                        for run in await self._due_runs(client):
                            if run.id in self._running or stop.is_set():
                                continue
                            if await self._claim(client, run):
                                self._running[run.id] = asyncio.create_task(self._execute(run), name=str(run.id))
                    except Exception:  # noqa: BLE001 - a hiccup of the API must not end serving
                        log.warning("polling for runs failed; retrying", exc_info=True)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)
                except asyncio.TimeoutError:
                    pass

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


async def crash_orphaned_runs(deployment_ids: list[UUID]) -> list[UUID]:
    """Runs left RUNNING/PENDING by a killed serve of this project: nobody executes them any more."""
    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=deployment_ids)),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))
            ),
            limit=200,
        )
        for run in runs:
            await client.set_flow_run_state(
                run.id, Crashed(message="its serve process was killed; found orphaned at the next start"), force=True
            )
    return [run.id for run in runs]
