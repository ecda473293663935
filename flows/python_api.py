"""A small Python API in the spirit of the spec: load automations, get one by name, execute it, publish events."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.language.catalog import Catalog, LoadedAutomation, load_catalog
from compiler.language.diagnostics import Diagnostic
from compiler.language.normalize import normalized, to_json, to_yaml
from flows.events.matching import normalize_event
from flows.events.publish import EventListener
from flows.local_server.api_choice import using_api
from flows.prefect_api.history import RunHistory, read_run, read_runs

__all__ = [
    "AutomationError",
    "AutomationRegistry",
    "AutomationRun",
    "aexecute_automation",
    "execute_automation",
    "get_automation_registry",
    "get_event_listener",
]


@dataclass
class AutomationRun:
    """Outcome of one execution, read back from the Prefect API."""

    run_id: str
    status: str
    message: str
    completed: bool
    actions: list[dict[str, Any]] = field(default_factory=list)
    history: RunHistory | None = None

    @classmethod
    def from_history(cls, history: RunHistory, completed: bool) -> AutomationRun:
        return cls(history.id, history.status, history.message, completed, [vars(a) for a in history.actions], history)


class AutomationError(ValueError):
    """An automation could not be loaded or registered; ``diagnostics`` says where and why."""

    def __init__(self, message: str, diagnostics: list[Diagnostic]) -> None:
        super().__init__("\n".join([message, *(str(d) for d in diagnostics)]))
        self.diagnostics = diagnostics


class AutomationRegistry:
    """The automations of a config folder (``$AUTOMATIONS_CONFIG_DIR/automations``, default
    ``configs/automations``), plus any loaded from other files or registered in code."""

    def __init__(self, config_dir: Path | str | None = None) -> None:
        if config_dir is None:
            # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); `import platform_god.automations` stays light
            from compiler.language.settings import get_settings

            config_dir = get_settings().config_dir / "automations"
        self.config_dir = Path(config_dir)
        self._catalog = Catalog()
        self._registered: dict[str, LoadedAutomation] = {}  # load_file()/register(): kept across load_all()

    def load_all(self) -> int:
        """(Re)load every file; returns how many automations are valid. Problems are in ``diagnostics``."""
        self._catalog = load_catalog(self.config_dir)
        return len(self._catalog.automations)

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return list(self._catalog.diagnostics)

    @property
    def automations(self) -> dict[str, LoadedAutomation]:
        """Every valid automation by name; one registered in code or loaded from a file wins over the folder's."""
        return {**self._catalog.automations, **self._registered}

    @property
    def catalog(self) -> Catalog:
        """The folder's catalog with ``automations`` as above (what ``serve`` would deploy)."""
        return Catalog(automations=self.automations, chains=self._catalog.chains, diagnostics=self.diagnostics, files=list(self._catalog.files))

    def names(self) -> list[str]:
        return sorted(self.automations)

    def get_by_name(self, name: str) -> LoadedAutomation | None:
        return self.automations.get(name)

    def load_file(self, path: Path | str) -> LoadedAutomation:
        """Validate one automation file (YAML or JSON, chains from this registry's folder) and register it."""
        catalog = load_catalog(self.config_dir, paths=[Path(path)])
        if catalog.errors or not catalog.automations:
            raise AutomationError(f"{path}: not a valid automation", catalog.errors or catalog.diagnostics)
        (loaded,) = catalog.automations.values()
        return self.register(loaded)

    def register(self, loaded: LoadedAutomation) -> LoadedAutomation:
        """Make ``loaded`` available by name (replacing one of the same name) until the process ends."""
        self._registered[loaded.automation.name] = loaded
        return loaded

    def export_automation(self, name: str, fmt: str = "yaml") -> str:
        loaded = self.get_by_name(name) or self._catalog.get(name)  # KeyError with a did-you-mean hint
        data = normalized(loaded.automation)
        return to_json(data) if fmt == "json" else to_yaml(data)

    def export_all(self, fmt: str = "yaml") -> str:
        automations = self.automations
        data = [normalized(automations[n].automation) for n in self.names()]
        return to_json(data) if fmt == "json" else to_yaml(data)

    def get_runs(self, automation_name: str | None = None, limit: int = 10) -> list[RunHistory]:
        """Audit trail: runs newest first with per-action status, attempts and durations."""
        return asyncio.run(read_runs(automation_name, limit))


def get_automation_registry(config_dir: Path | str | None = None) -> AutomationRegistry:
    registry = AutomationRegistry(config_dir)
    registry.load_all()
    return registry


async def aexecute_automation(
    automation: LoadedAutomation,
    context: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> AutomationRun:
    # deferred: building flows imports Prefect, ~1 s CPU (measured); `import platform_god.automations` stays light
    from flows.engine.flow_factory import build_flow, run_tags

    parameters: dict[str, Any] = dict(context or {})
    if event is not None:
        parameters["event"] = normalize_event(event)
    if idempotency_key:
        parameters["idempotency_key"] = idempotency_key
    with run_tags(automation.automation):  # tagged like deployment runs: the UI and the zombie-run automation see it
        # An automation's flow is async: its call is a coroutine (Prefect's overloads type the sync call).
        state = await build_flow(automation)(return_state=True, **parameters)  # type: ignore[misc]
    history = await read_run(state.state_details.flow_run_id)
    return AutomationRun.from_history(history, state.is_completed())


def execute_automation(
    automation: LoadedAutomation | str,
    context: dict[str, Any] | None = None,
    event: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> AutomationRun:
    """Run the automation (loaded, or named in the config folder) now, in this process, as a Prefect flow run;
    returns it when it has ended, with its per-action history.

    The Prefect API is chosen as for the CLI (``flows.local_server.api_choice``): PREFECT_API_URL, else the
    embedded local server. ``context`` gives its inputs; ``event`` runs it as that event would;
    ``idempotency_key`` names the occurrence. ``platform_god.automations.execute_automation`` is this call,
    returning the spec's view of the same run.
    """
    loaded = get_automation_registry().catalog.get(automation) if isinstance(automation, str) else automation
    with using_api():
        return asyncio.run(aexecute_automation(loaded, context, event, idempotency_key))


def get_event_listener(automation: str | None = None) -> EventListener:
    return EventListener(automation)
