"""The spec's trigger engine: this process's event and condition automations made live on Prefect, as ``serve`` does.

Prefect evaluates the triggers: an event trigger is a deployment trigger on the server, a condition
trigger a watcher deployment on an interval schedule. ``TriggerEngine.start()`` creates those
deployments (the same ones ``serve`` creates) and executes their runs in a background thread of this
process; ``event_listener`` publishes Platform God events (flows/events/publish.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any
from uuid import UUID

from compiler.language.model.triggers import ConditionSpec, ConditionTrigger, EventTrigger, TimeTrigger
from flows.conditions.evaluate import ConditionResult, evaluate_condition
from flows.events.matching import match_event
from flows.events.publish import EventListener, PublishedEvent
from platform_god.automations._runtime import on_exit, using_api
from platform_god.automations._serving import BackgroundServing, StopReport
from platform_god.automations.models import AutomationDefinition, TriggerConfig
from platform_god.automations.registry import AutomationRegistry, get_automation_registry

__all__ = [
    "ConditionEvaluator",
    "ConditionResult",
    "ConditionTrigger",
    "EventListener",
    "EventTrigger",
    "StopReport",
    "TimeTrigger",
    "TriggerEngine",
    "get_trigger_engine",
]

log = logging.getLogger("platform_god.automations")

TRIGGER_TYPES = frozenset({"event", "condition"})
_DISPATCH_POLL_SECONDS = 0.25


class ConditionEvaluator:
    """Evaluate a condition trigger against a metrics document (what each watcher run does)."""

    def evaluate(self, condition: ConditionSpec | TriggerConfig | ConditionTrigger, metrics: Any) -> ConditionResult:
        spec = condition.model if isinstance(condition, TriggerConfig) else condition
        if isinstance(spec, ConditionTrigger):
            spec = spec.condition
        if not isinstance(spec, ConditionSpec):
            raise TypeError("evaluate() needs a condition trigger")
        return evaluate_condition(spec, metrics)


class TriggerEngine:
    """Event and condition triggers of this process's automations, live on Prefect while started.

    ``start()`` deploys them (as ``serve`` does) and executes their runs here, in a background thread;
    calling it again while started does nothing. ``stop()`` first waits (up to ``dispatch_timeout``)
    until the events published through ``event_listener`` have started the runs they trigger, then
    takes no new runs, lets in-flight ones finish within ``timeout`` and ends the rest Crashed. The
    deployments and their triggers stay on the server (as after ``serve``): runs they create while no
    engine, ``serve`` or worker runs wait for the next one. A started engine is stopped when the
    process exits; runs that a killed process on this machine left running are marked Crashed at start.
    """

    def __init__(self, registry: AutomationRegistry | None = None, dispatch_timeout: float = 30.0) -> None:
        self._registry = registry
        self.dispatch_timeout = dispatch_timeout
        self._serving = BackgroundServing("trigger-engine", TRIGGER_TYPES)
        self._listener = EventListener(on_publish=self._published)
        self._published_events: list[PublishedEvent] = []
        self._automations: dict[str, AutomationDefinition] = {}
        self._lock = threading.RLock()

    @property
    def registry(self) -> AutomationRegistry:
        return self._registry or get_automation_registry()

    @property
    def event_listener(self) -> EventListener:
        """Publishes Platform God events (``publish_agent_complete``, ``publish_chain_complete``, …)."""
        return self._listener

    @property
    def running(self) -> bool:
        return self._serving.running

    @property
    def automations(self) -> list[AutomationDefinition]:
        """The event and condition automations served since the last ``start()``."""
        return list(self._automations.values())

    def start(self) -> None:
        with self._lock:
            if self._serving.running:
                return
            catalog = self.registry.catalog
            self._automations = {
                name: AutomationDefinition(loaded)
                for name, loaded in catalog.automations.items()
                if loaded.automation.status == "enabled" and loaded.automation.trigger.type in TRIGGER_TYPES
            }
            self._published_events = []
            with using_api():
                on_exit(self._stop_at_exit)
                self._serving.start(catalog)

    def stop(self, graceful: bool = True, timeout: float = 30.0) -> StopReport:
        """Undo ``start()``: stop executing runs here (the embedded server, if one was started, stays up
        until the process exits). ``graceful=False`` ends in-flight runs Crashed at once."""
        with self._lock:
            if not self._serving.running:
                return StopReport()
            pending = self._pending_dispatches() if graceful else []
            with using_api():
                return self._serving.stop(timeout if graceful else 0.0, (lambda: self._wait_for_dispatch(pending)) if pending else None)

    def matching_automations(self, event: PublishedEvent | dict[str, Any]) -> list[AutomationDefinition]:
        """The served event automations whose trigger matches ``event`` (as Prefect's trigger matches it)."""
        data = {"event": event.event, "resource": event.resource} if isinstance(event, PublishedEvent) else event
        return [
            automation
            for automation in self._automations.values()
            if automation.model.trigger.type == "event" and match_event(automation.model.trigger.event, data)[0]
        ]

    def _published(self, event: PublishedEvent) -> None:
        if self._serving.running:
            self._published_events.append(event)

    def _pending_dispatches(self) -> list[tuple[UUID, str]]:
        """(deployment id, event id) for every event this engine published that one of its automations matches."""
        deployment_of = {name: deployment_id for deployment_id, name in self._serving.deployments.items()}
        return [
            (deployment_of[automation.name], event.id)
            for event in self._published_events
            for automation in self.matching_automations(event)
            if automation.name in deployment_of
        ]

    async def _wait_for_dispatch(self, pending: list[tuple[UUID, str]]) -> None:
        """Until each event's run exists and was taken by an executor (this one or another), or the timeout."""
        # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` does without it
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.sorting import FlowRunSort

        deadline = time.monotonic() + self.dispatch_timeout
        waiting = set(pending)
        async with get_client() as client:
            while waiting and time.monotonic() < deadline:
                for deployment_id in {d for d, _ in waiting}:
                    runs = await client.read_flow_runs(
                        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
                        limit=50,
                    )
                    taken = {
                        str((run.parameters.get("event") or {}).get("id"))
                        for run in runs
                        if run.state is not None and run.state.type != StateType.SCHEDULED
                    }
                    waiting -= {(d, e) for d, e in waiting if d == deployment_id and e in taken}
                if waiting:
                    await asyncio.sleep(_DISPATCH_POLL_SECONDS)
        if waiting:
            log.info("trigger-engine: %d published event(s) started no run within %gs (cooldown damping, or a slow server)",
                     len(waiting), self.dispatch_timeout)

    def _stop_at_exit(self) -> None:
        self.stop(graceful=True, timeout=30.0)


_engine: TriggerEngine | None = None
_engine_lock = threading.Lock()


def get_trigger_engine() -> TriggerEngine:
    """This process's trigger engine (one per process; it serves ``get_automation_registry()``'s automations)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = TriggerEngine()
        return _engine
