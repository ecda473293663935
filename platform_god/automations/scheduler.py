"""The spec's scheduler: this process's time (cron) automations served as ``serve`` serves them.

Prefect keeps the schedules (deployment schedules; its scheduler creates the runs ahead of time) and
the history; the scheduler executes due runs in a background thread of this process, holds the same
project lock as ``serve`` (one scheduler or serve per project), marks runs a killed predecessor left
running Crashed when it starts, and on ``stop()`` drains in-flight runs like ``serve`` on SIGTERM.
Missed schedules follow each automation's ``missed_runs`` policy, checked when the late run starts.
"""

from __future__ import annotations

import threading
from pathlib import Path

from compiler.commands.serve import SERVE_LOCK
from compiler.commands.serve.lock import LockHeld, ProjectLock
from compiler.language.project import find_project_root
from platform_god.automations._runtime import on_exit, using_api
from platform_god.automations._serving import BackgroundServing, StopReport
from platform_god.automations.models import AutomationDefinition
from platform_god.automations.registry import AutomationRegistry, get_automation_registry

__all__ = ["AutomationScheduler", "LockHeld", "StopReport", "get_scheduler"]

TRIGGER_TYPES = frozenset({"time"})


class AutomationScheduler:
    """Time-triggered automations of this process's registry, executed here while started.

    ``start()`` takes the project lock (``var/serve.lock``: ``LockHeld`` names the holder when a
    ``serve`` or another scheduler runs), deploys the schedules and starts executing due runs; calling
    it again while started does nothing. ``stop(graceful=True, timeout=30.0)`` takes no new runs and lets
    in-flight ones finish within ``timeout`` seconds, ending the rest Crashed with the reason;
    ``stop(graceful=False)`` ends them Crashed at once. The deployments and their schedules stay on the
    server (as after ``serve``). A started scheduler is stopped (gracefully) when the process exits.
    """

    def __init__(self, registry: AutomationRegistry | None = None, lock_path: Path | str = SERVE_LOCK) -> None:
        self._registry = registry
        self.lock_path = find_project_root() / Path(lock_path)  # a relative path is under the project root
        self._serving = BackgroundServing("scheduler", TRIGGER_TYPES)
        self._lock: ProjectLock | None = None
        self._automations: list[AutomationDefinition] = []
        self._mutex = threading.RLock()

    @property
    def registry(self) -> AutomationRegistry:
        return self._registry or get_automation_registry()

    @property
    def running(self) -> bool:
        return self._serving.running

    @property
    def automations(self) -> list[AutomationDefinition]:
        """The time automations scheduled since the last ``start()``."""
        return list(self._automations)

    def start(self) -> None:
        with self._mutex:
            if self._serving.running:
                return
            catalog = self.registry.catalog
            lock = ProjectLock(self.lock_path.resolve())
            lock.acquire()
            try:
                with using_api():
                    on_exit(self._stop_at_exit)
                    self._serving.start(catalog)
            except BaseException:
                lock.release()
                raise
            self._lock = lock
            self._automations = [
                AutomationDefinition(loaded)
                for loaded in catalog.automations.values()
                if loaded.automation.status == "enabled" and loaded.automation.trigger.type in TRIGGER_TYPES
            ]

    def stop(self, graceful: bool = True, timeout: float = 30.0) -> StopReport:
        """Drain (``graceful``) or crash in-flight runs, then release the project lock."""
        with self._mutex:
            if not self._serving.running and self._lock is None:
                return StopReport()
            try:
                with using_api():
                    return self._serving.stop(timeout if graceful else 0.0)
            finally:
                if self._lock is not None:
                    self._lock.release()
                    self._lock = None

    def _stop_at_exit(self) -> None:
        self.stop(graceful=True, timeout=30.0)


_scheduler: AutomationScheduler | None = None
_scheduler_lock = threading.Lock()


def get_scheduler() -> AutomationScheduler:
    """This process's scheduler (it schedules ``get_automation_registry()``'s time automations)."""
    global _scheduler
    with _scheduler_lock:
        if _scheduler is None:
            _scheduler = AutomationScheduler()
        return _scheduler
