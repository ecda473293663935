"""The spec's ``AutomationRegistry``: flows/python_api.py's registry (the compiler's catalog) with the spec's names and views.

Run history is Prefect's: ``get_runs`` reads flow runs and their task runs back from the API.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from compiler.language.catalog import Catalog, LoadedAutomation
from compiler.language.diagnostics import Diagnostic
from flows import python_api as _api
from flows.prefect_api.history import read_runs
from flows.python_api import AutomationError
from platform_god.automations._runtime import using_api
from platform_god.automations.models import AutomationDefinition, AutomationRun

__all__ = ["AutomationError", "AutomationRegistry", "get_automation_registry"]

_FORMATS = {"yaml": (".yaml", ".yml"), "json": (".json",)}


class AutomationRegistry:
    """Automations from the config folder, plus files loaded and definitions registered in code."""

    def __init__(self, config_dir: Path | str | None = None) -> None:
        self._inner = _api.AutomationRegistry(config_dir)
        self._loaded = False

    @property
    def config_dir(self) -> Path:
        return self._inner.config_dir

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self.load_all()

    def load_all(self) -> int:
        """(Re)load every file of the config folder; returns how many are valid. Problems: ``diagnostics``."""
        count = self._inner.load_all()
        self._loaded = True
        return count

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every problem of the last ``load_all`` (``file:line:col: field: message``); bad files are left out."""
        self._ensure_loaded()
        return self._inner.diagnostics

    @property
    def catalog(self) -> Catalog:
        """What the trigger engine and the scheduler serve."""
        self._ensure_loaded()
        return self._inner.catalog

    def _load_file(self, path: Path | str, fmt: str) -> AutomationDefinition:
        suffix = Path(path).suffix.lower()
        if suffix not in _FORMATS[fmt]:
            raise ValueError(f"{path}: load_from_{fmt} reads {' or '.join(_FORMATS[fmt])} files, not '{suffix or '(none)'}'")
        self._ensure_loaded()
        return AutomationDefinition(self._inner.load_file(path))

    def load_from_yaml(self, path: Path | str) -> AutomationDefinition:
        """Validate one YAML automation file and register it; raises ``AutomationError`` naming every problem."""
        return self._load_file(path, "yaml")

    def load_from_json(self, path: Path | str) -> AutomationDefinition:
        """Validate one JSON automation file and register it; raises ``AutomationError`` naming every problem."""
        return self._load_file(path, "json")

    def register(self, automation: AutomationDefinition | LoadedAutomation | Mapping[str, Any]) -> AutomationDefinition:
        """Make an automation available by name in this process (replacing one of the same name).

        A mapping is validated like a file. The trigger engine and scheduler serve it from their next
        ``start()``.
        """
        if isinstance(automation, Mapping):
            automation = AutomationDefinition.from_dict(automation, self.config_dir)
        loaded = automation.loaded if isinstance(automation, AutomationDefinition) else automation
        if not isinstance(loaded, LoadedAutomation):
            raise TypeError(f"register() takes an AutomationDefinition or a mapping, not {type(automation).__name__}")
        self._ensure_loaded()
        return AutomationDefinition(self._inner.register(loaded))

    def get_by_name(self, name: str) -> AutomationDefinition | None:
        self._ensure_loaded()
        loaded = self._inner.get_by_name(name)
        return AutomationDefinition(loaded) if loaded is not None else None

    def get(self, automation_id: str) -> AutomationDefinition | None:
        """By id; ids are names."""
        return self.get_by_name(automation_id)

    def names(self) -> list[str]:
        self._ensure_loaded()
        return self._inner.names()

    def list_automations(self) -> list[AutomationDefinition]:
        self._ensure_loaded()
        return [AutomationDefinition(loaded) for _, loaded in sorted(self._inner.automations.items())]

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get_by_name(name) is not None

    def get_runs(self, automation_id: str | None = None, limit: int = 10) -> list[AutomationRun]:
        """The audit trail, newest first: runs of one automation (its id or name; also a Prefect flow or
        deployment id) or of all (None), each with its action executions. Unknown ids have no runs."""
        async def runs() -> list[AutomationRun]:
            name = await _flow_name(automation_id) if automation_id is not None else None
            if automation_id is not None and name is None:
                return []
            return [AutomationRun.from_history(history) for history in await read_runs(name, limit)]

        with using_api():
            return asyncio.run(runs())

    def record_run(self, run: AutomationRun) -> AutomationRun:
        """Kept for code written against the spec; stores nothing and returns ``run`` unchanged.

        Prefect records every run by itself (the flow run, each action's task run with its states,
        attempts and logs, and a summary artifact); ``get_runs`` reads them back.
        """
        return run

    def export_automation(self, automation: AutomationDefinition | str, format: str = "yaml") -> str:
        """The normalized definition (defaults filled in) as YAML or JSON."""
        self._ensure_loaded()
        name = automation.name if isinstance(automation, AutomationDefinition) else automation
        return self._inner.export_automation(name, _format(format))

    def export_all(self, format: str = "yaml") -> str:
        """Every automation, normalized, as one YAML or JSON list."""
        self._ensure_loaded()
        return self._inner.export_all(_format(format))


def _format(fmt: str) -> str:
    if fmt not in _FORMATS:
        raise ValueError(f"format must be 'yaml' or 'json', not {fmt!r}")
    return fmt


async def _flow_name(key: str) -> str | None:
    """A name as it is; a Prefect flow or deployment id → its flow's name (None when unknown)."""
    try:
        uuid = UUID(str(key))
    except ValueError:
        return key
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` does without it
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        try:
            return (await client.read_flow(uuid)).name
        except ObjectNotFound:
            pass
        try:
            deployment = await client.read_deployment(uuid)
        except ObjectNotFound:
            return None
        return (await client.read_flow(deployment.flow_id)).name


_registry: AutomationRegistry | None = None
_registry_lock = threading.Lock()


def get_automation_registry(config_dir: Path | str | None = None) -> AutomationRegistry:
    """This process's registry (the trigger engine and the scheduler serve its automations).

    ``config_dir`` defaults to ``$AUTOMATIONS_CONFIG_DIR/automations`` (``configs/automations``); another
    folder replaces the process's registry with one for that folder. Files are read on first use.
    """
    global _registry
    with _registry_lock:
        if _registry is None or (config_dir is not None and Path(config_dir) != _registry.config_dir):
            _registry = AutomationRegistry(config_dir)
        return _registry
