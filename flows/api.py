"""A small Python API in the spirit of the spec: load automations, get one by name, execute it, publish events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.catalog import Catalog, LoadedAutomation, load_catalog
from compiler.diagnostics import Diagnostic
from compiler.normalize import normalized, to_json, to_yaml
from flows.events import EventListener
from flows.history import RunHistory, read_run, read_runs

__all__ = ["AutomationRegistry", "AutomationRun", "execute_automation", "get_automation_registry", "get_event_listener"]


@dataclass
class AutomationRun:
    """Outcome of one execution, read back from the Prefect API."""

    run_id: str
    status: str
    message: str
    completed: bool
    actions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_history(cls, history: RunHistory, completed: bool) -> AutomationRun:
        return cls(history.id, history.status, history.message, completed, [vars(a) for a in history.actions])


class AutomationRegistry:
    """The automations of a config folder (``configs/automations`` by default)."""

    def __init__(self, config_dir: Path | str = Path("configs/automations")) -> None:
        self.config_dir = Path(config_dir)
        self._catalog = Catalog()

    def load_all(self) -> int:
        """(Re)load every file; returns how many automations are valid. Problems are in ``diagnostics``."""
        self._catalog = load_catalog(self.config_dir)
        return len(self._catalog.automations)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return list(self._catalog.diagnostics)

    def names(self) -> list[str]:
        return sorted(self._catalog.automations)

    def get_by_name(self, name: str) -> LoadedAutomation | None:
        return self._catalog.automations.get(name)

    def export_automation(self, name: str, fmt: str = "yaml") -> str:
        data = normalized(self._catalog.get(name).automation)
        return to_json(data) if fmt == "json" else to_yaml(data)

    def export_all(self, fmt: str = "yaml") -> str:
        data = [normalized(self._catalog.automations[n].automation) for n in self.names()]
        return to_json(data) if fmt == "json" else to_yaml(data)

    def get_runs(self, automation_name: str | None = None, limit: int = 10) -> list[RunHistory]:
        """Audit trail: runs newest first with per-action status, attempts and durations."""
        return asyncio.run(read_runs(automation_name, limit))


def get_automation_registry(config_dir: Path | str = Path("configs/automations")) -> AutomationRegistry:
    registry = AutomationRegistry(config_dir)
    registry.load_all()
    return registry


async def aexecute_automation(
    automation: LoadedAutomation,
    context: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> AutomationRun:
    from flows.flow_factory import build_flow

    parameters: dict[str, Any] = dict(context or {})
    if event is not None:
        from flows.event_match import normalize_event

        parameters["event"] = normalize_event(event)
    if idempotency_key:
        parameters["idempotency_key"] = idempotency_key
    state = await build_flow(automation)(return_state=True, **parameters)
    history = await read_run(state.state_details.flow_run_id)
    return AutomationRun.from_history(history, state.is_completed())


def execute_automation(
    automation: LoadedAutomation,
    context: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> AutomationRun:
    """Run the automation's flow now against the configured Prefect API (``context`` gives its inputs)."""
    return asyncio.run(aexecute_automation(automation, context, event, idempotency_key))


def get_event_listener(automation: str | None = None) -> EventListener:
    return EventListener(automation)
