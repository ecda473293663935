"""The parts of a deployment's flow that `prefect deploy` uses (name, parameter schema, defaults), without building 1,000 flows."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.commands.build import AUTOMATIONS_MODULE, DEFINITIONS_DIR
from compiler.language.catalog import LoadedAutomation
from compiler.language.model.automation import automation_model

__all__ = ["FlowCatalog", "FlowFacts"]


@dataclass
class FlowFacts:
    """One entrypoint's flow as `prefect deploy` sees it; ``flow()`` builds the real one only when asked."""

    name: str
    parameter_schema: Any  # prefect's ParameterSchema
    _build: Any = field(repr=False, default=None)
    _flow: Any = field(repr=False, default=None)

    def flow(self) -> Any:
        if self._flow is None:
            self._flow = self._build()
        return self._flow

    @property
    def description(self) -> str | None:
        description: str | None = self.flow().description
        return description

    @property
    def version(self) -> str | None:
        version: str | None = self.flow().version
        return version

    def schema_json(self) -> dict[str, Any]:
        """The schema as the deployment stores it (``model_dump(exclude_unset=True)``, JSON types)."""
        dumped: dict[str, Any] = json.loads(json.dumps(self.parameter_schema.model_dump(exclude_unset=True), default=str))
        return dumped


def _signature_key(signature: inspect.Signature) -> tuple[Any, ...]:
    """What a parameter schema is computed from: each parameter's name, kind, annotation and default (by type and value)."""
    return tuple(
        (p.name, p.kind, repr(p.annotation), type(p.default).__name__, json.dumps(p.default, sort_keys=True, default=repr))
        for p in signature.parameters.values()
    )


class FlowCatalog:
    """Flow facts for the entrypoints of one build's deployments.

    An automation's flow (``flows/automations.py:NAME``) differs from another's only in its name and its
    parameters (inputs and context defaults), so its schema is computed with Prefect's ``parameter_schema``
    on one real flow per distinct signature: 1,000 automations of the P1 mix have a handful (a schema costs
    ~40 ms and building the flow ~60 ms, measured with ``python -m compiler plan`` of benchmark P12's
    1,000 automations). Any other entrypoint (the condition watcher) is imported once.
    """

    def __init__(self, project_root: Path, definitions: Mapping[str, str]) -> None:
        self._root = project_root
        self._definitions = definitions  # automation name → compiled definition (JSON text)
        self._by_entrypoint: dict[str, FlowFacts] = {}
        self._schemas: dict[tuple[Any, ...], Any] = {}

    def facts(self, entrypoint: str) -> FlowFacts:
        found = self._by_entrypoint.get(entrypoint)
        if found is None:
            path, attribute = entrypoint.rsplit(":", 1)
            automation = path == AUTOMATIONS_MODULE and attribute in self._definitions
            found = self._automation(attribute) if automation else self._imported(path, attribute)
            self._by_entrypoint[entrypoint] = found
        return found

    def _automation(self, name: str) -> FlowFacts:
        # deferred: building flows imports Prefect, ~1 s CPU (measured); every command loads this module through deploy; only plan and deploy use it
        from flows.engine.flow_factory import build_flow, flow_signature

        data = json.loads(self._definitions[name])
        inputs = tuple(data.pop("inputs", ()))

        def build() -> Any:
            automation = automation_model().model_validate_json(json.dumps(data))  # as flows/engine/definitions.py reads it
            # automation_model() builds the model that type checkers know as Automation (a static view of it).
            return build_flow(LoadedAutomation(automation, f"{AUTOMATIONS_MODULE}:{name}", inputs), name)  # type: ignore[arg-type]

        # The signature needs the context and the inputs only: read from the compiled (already validated)
        # definition without validating it again (~0.6 s of CPU for 1,000 automations; P12's plan).
        key = _signature_key(flow_signature(inputs, data.get("context") or {}))
        schema = self._schemas.get(key)
        facts = FlowFacts(name, None, build)  # build_flow names the flow after the automation (its attribute)
        if schema is None:
            # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only plan and deploy use it
            from prefect.utilities.callables import parameter_schema

            schema = self._schemas[key] = parameter_schema(facts.flow())
        facts.parameter_schema = schema
        return facts

    def _imported(self, path: str, attribute: str) -> FlowFacts:
        # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only plan and deploy use it
        from prefect.utilities.callables import parameter_schema

        flow = _load_flow(self._root, path, attribute)
        return FlowFacts(flow.name, parameter_schema(flow), _flow=flow)

    @classmethod
    def from_outputs(cls, project_root: Path, outputs: Mapping[Path, str]) -> FlowCatalog:
        """The catalog of a build's outputs (the definitions the workers will load)."""
        definitions = {p.stem: text for p, text in outputs.items() if p.parent == DEFINITIONS_DIR and p.suffix == ".json"}
        return cls(project_root, definitions)


def _load_flow(project_root: Path, path: str, attribute: str) -> Any:
    """The flow `prefect deploy` loads from ``path:attribute`` in the project folder.

    A project file inside a package (``flows/conditions/watcher.py``) is imported as that package's module, so this
    process does not run the same file a second time as a script; anything else goes to Prefect's loader.
    """
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only plan and deploy use it
    from prefect.flows import load_flow_from_entrypoint

    relative = Path(path)
    if path.endswith(".py") and not relative.is_absolute() and ".." not in relative.parts:
        try:
            module = importlib.import_module(".".join(relative.with_suffix("").parts))
            return getattr(module, attribute)
        except (ImportError, AttributeError):
            pass
    return load_flow_from_entrypoint(f"{project_root / path}:{attribute}")
