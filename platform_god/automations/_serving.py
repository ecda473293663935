"""Serve some automations' deployments from a background thread of the calling process, the way ``serve`` does.

Why a thread of the caller and not a child process: runs then see what this process registered in
code (automations given to ``register()``, custom actions and agents registered at run time), no new
interpreter pays 2-3 s of imports before the first run, and ``stop()`` drains in-flight runs directly.
The thread has its own event loop; the deployments, their triggers and schedules, the in-process
executor (claim due runs, run them here, drain on stop) are ``serve``'s own pieces.

Lifecycle events (``platform-god.<component>.started`` / ``.stopping`` / ``.stopped``, resource
``platform-god.<component>.<host>.<pid>``) put each start and stop in Prefect's event feed, with how
many runs were in flight when it stopped and which ones were ended Crashed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from compiler.commands.serve import condition_checker
from compiler.language.catalog import Catalog

__all__ = ["BackgroundServing", "StopReport"]

log = logging.getLogger("platform_god.automations")

START_TIMEOUT_SECONDS = 300.0  # deploying takes ~1-2 s per automation here; a slow shared machine gets headroom
_JOIN_MARGIN_SECONDS = 30.0  # after the grace period: cancelling, and writing Crashed states to the API


@dataclass(frozen=True)
class StopReport:
    """What a stop found: runs in flight when it stopped taking new ones, and those it ended Crashed."""

    in_flight: int = 0
    crashed: list[str] = field(default_factory=list)


def _emit(component: str, what: str, payload: Mapping[str, Any]) -> None:
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` does without it
    from prefect.events import emit_event

    host, pid = socket.gethostname(), os.getpid()
    emit_event(
        event=f"platform-god.{component}.{what}",
        resource={
            "prefect.resource.id": f"platform-god.{component}.{host}.{pid}",
            "platform-god.host": host,
            "platform-god.pid": str(pid),
        },
        payload=dict(payload),
    )


class BackgroundServing:
    """Deployments of the enabled automations with the given trigger types, served on a daemon thread."""

    def __init__(self, component: str, trigger_types: frozenset[str], *, poll_seconds: float = 0.25) -> None:
        self.component = component
        self.trigger_types = trigger_types
        self.poll_seconds = poll_seconds
        self.deployments: dict[UUID, str] = {}  # deployment id → flow (automation) name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._grace = 0.0
        self._report = StopReport()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, catalog: Catalog) -> None:
        """Deploy and start executing; returns once the triggers and schedules are live on the server."""
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        # A copy of the caller's context: Prefect settings set with temporary_settings apply in the thread too.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._thread_main, catalog, ready), name=f"platform-god-{self.component}", daemon=True
        )
        self._thread.start()
        try:
            ready.result(timeout=START_TIMEOUT_SECONDS)
        except BaseException:
            self._thread.join(timeout=5)
            self._thread = None
            raise

    def stop(self, grace_seconds: float, before_stop: Callable[[], Awaitable[None]] | None = None) -> StopReport:
        """Take no new runs (after ``before_stop``, run on the serving loop), let in-flight runs finish within
        ``grace_seconds``, end the rest Crashed with the reason. Does nothing when not running."""
        thread, loop, stop = self._thread, self._loop, self._stop
        if thread is None or loop is None or stop is None or not thread.is_alive():
            self._thread = None
            return StopReport()
        self._grace = max(0.0, grace_seconds)

        async def begin_stop() -> None:
            try:
                if before_stop is not None:
                    await before_stop()
            finally:
                stop.set()

        with contextlib.suppress(RuntimeError):  # the loop already ended
            asyncio.run_coroutine_threadsafe(begin_stop(), loop)
        thread.join(timeout=self._grace + _JOIN_MARGIN_SECONDS + (60.0 if before_stop else 0.0))
        if thread.is_alive():
            log.warning("%s did not stop within the grace period; leaving its daemon thread behind", self.component)
        self._thread = None
        return self._report

    def _thread_main(self, catalog: Catalog, ready: concurrent.futures.Future[None]) -> None:
        # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` does without it
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

        # Heartbeats let the zombie-run automation end these runs Crashed if this process is killed. Prefect
        # read its environment when it was imported (before us), so set it for this thread's runs instead.
        heartbeats = {} if get_current_settings().flows.heartbeat_frequency else {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: 30}
        try:
            with temporary_settings(updates=heartbeats):
                asyncio.run(self._main(catalog, ready))
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.exception("%s stopped with an error", self.component)

    async def _main(self, catalog: Catalog, ready: concurrent.futures.Future[None]) -> None:
        # deferred: these import Prefect, ~1 s CPU (measured); `import platform_god.automations` does without it
        from compiler.commands.serve.register import LazyFlows, register_for_serving
        from flows.engine.executor import InProcessExecutor, crash_orphaned_runs

        registration = await register_for_serving(catalog, self.trigger_types)
        flows = LazyFlows(registration.automations)
        if flows:
            # Only runs whose owning process (infrastructure_pid) on this host is gone: a serve or another
            # process serving the same deployments now is left alone.
            orphans = await crash_orphaned_runs(list(flows))
            if orphans:
                log.warning("%s: marked %d run(s) left running by a killed process Crashed", self.component, len(orphans))
        self.deployments = {deployment_id: flows.name(deployment_id) for deployment_id in flows}
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        executor = InProcessExecutor(flows, poll_seconds=self.poll_seconds)
        checker = condition_checker(registration)  # condition automations: checked here, no flow run per check
        names = sorted(set(self.deployments.values()))
        _emit(self.component, "started", {"deployments": len(flows), "flows": names, "condition_groups": sorted(checker.groups)})
        log.info("%s: serving %d deployment(s): %s", self.component, len(flows), ", ".join(names))
        ready.set_result(None)

        async with executor.session():
            checks = asyncio.create_task(checker.run(self._stop), name="condition checks")
            await executor.run(self._stop)
            await asyncio.gather(checks, return_exceptions=True)
            in_flight = executor.in_flight
            _emit(self.component, "stopping", {"in_flight": in_flight, "grace_seconds": self._grace})
            unfinished = await executor.drain(self._grace)
        self._report = StopReport(in_flight, [str(run_id) for run_id in unfinished])
        _emit(self.component, "stopped", {"in_flight": in_flight, "crashed": self._report.crashed})
        log.info("%s: stopped (%d in flight, %d ended Crashed)", self.component, in_flight, len(unfinished))
