"""What ``deploy`` would put on the server: the build's outputs, in memory, as canonical shapes (nothing is written)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compiler.commands.build import (
    CONCURRENCY_LIMITS_PATH,
    DEFINITIONS_DIR,
    PREFECT_AUTOMATIONS_PATH,
    PREFECT_YAML_PATH,
    WATCHER_ENTRYPOINT,
    WATCHER_FLOW_NAME,
)
from compiler.commands.build import plan_outputs as build_outputs  # the build's own "what would be written", errors included
from compiler.language.deploy_config import BuildOptions, deploy_environment
from compiler.language.diagnostics import Diagnostic
from compiler.commands.plan.shapes import concurrency_shape, desired_automation, desired_schedule, desired_triggers

__all__ = ["DesiredState", "deployment_key", "desired_state", "flow_name_of"]

_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class DesiredState:
    """Everything deploy applies; deployments are keyed ``flow/name`` like Prefect names them."""

    work_pool: str = ""
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    automations: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: list[Diagnostic] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def expected(self) -> set[tuple[str, str]]:
        """(entrypoint, name) of every deployment: what ``deploy --prune`` keeps."""
        return {(d["entrypoint"], d["name"]) for d in self.deployments.values()}


def flow_name_of(entrypoint: str) -> str:
    """The Prefect flow behind one of our entrypoints (the automation's name, or the watcher flow)."""
    return WATCHER_FLOW_NAME if entrypoint == WATCHER_ENTRYPOINT else entrypoint.rsplit(":", 1)[1]


def deployment_key(flow_name: str, name: str) -> str:
    return f"{flow_name}/{name}"


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """Prefect resolves ``{{ $NAME }}`` from os.environ only; show it the environment deploy runs `prefect deploy` with."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _parameter_schema(entrypoint: str, definition: str | None) -> dict[str, Any]:
    """The flow's parameter schema as `prefect deploy` sends it (from the same compiled definition the worker loads)."""
    from prefect.utilities.callables import parameter_schema

    if entrypoint == WATCHER_ENTRYPOINT:
        from flows.conditions.watcher import condition_watcher as flow
    else:
        from compiler.language.catalog import LoadedAutomation
        from compiler.language.model.automation import automation_model
        from flows.engine.flow_factory import build_flow

        data = json.loads(definition or "{}")
        inputs = tuple(data.pop("inputs", ()))
        automation = automation_model().model_validate_json(json.dumps(data))  # as flows/engine/definitions.py reads it
        name = entrypoint.rsplit(":", 1)[1]
        flow = build_flow(LoadedAutomation(automation, entrypoint, inputs), name)  # type: ignore[arg-type]
    schema: dict[str, Any] = json.loads(json.dumps(parameter_schema(flow).model_dump(exclude_unset=True), default=str))
    return schema


def _deployment(entry: dict[str, Any], pull_steps: list[Any], definition: str | None) -> dict[str, Any]:
    work_pool = entry.get("work_pool") or {}
    limit = entry.get("concurrency_limit")
    concurrency = concurrency_shape(limit.get("limit"), limit.get("collision_strategy")) if isinstance(limit, dict) else concurrency_shape(limit, None)
    return {
        "entrypoint": entry["entrypoint"],
        "name": entry["name"],
        "description": entry.get("description"),
        "version": entry.get("version"),
        "tags": list(entry.get("tags") or []),
        "work_pool": work_pool.get("name"),
        "job_variables": work_pool.get("job_variables") or {},
        "parameters": entry.get("parameters") or {},
        "parameter_openapi_schema": _parameter_schema(entry["entrypoint"], definition),
        "pull_steps": pull_steps,
        "paused": bool(entry.get("paused", False)),
        "concurrency_limit": concurrency,
        "schedules": [desired_schedule(s) for s in entry.get("schedules") or []],
        "triggers": desired_triggers(entry["name"], list(entry.get("triggers") or [])),
        # What workers run (actions and their parameters): they read it from the project folder, not the API.
        **({"definition": json.loads(definition)} if definition is not None and entry["entrypoint"] != WATCHER_ENTRYPOINT else {}),
    }


def desired_state(config_dir: Path, project_root: Path, options: BuildOptions) -> DesiredState:
    """The build's outputs for ``config_dir`` read back as deploy would apply them; ``errors`` set on config errors."""
    from prefect.utilities.templating import apply_values

    outputs, errors, warnings = build_outputs(config_dir, options)
    state = DesiredState(work_pool=options.work_pool, errors=list(errors), warnings=list(warnings))
    if errors:
        return state
    project = yaml.load(outputs[PREFECT_YAML_PATH], Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    with _environment(deploy_environment(project_root)):
        # `prefect deploy` fills in {{ $NAME }} from its environment: the project folder for $PWD.
        project = apply_values(project, {}, remove_notset=False)
    pull_steps = project.get("pull") or []
    for entry in project.get("deployments") or []:
        key = deployment_key(flow_name_of(entry["entrypoint"]), entry["name"])
        definition = outputs.get(DEFINITIONS_DIR / f"{flow_name_of(entry['entrypoint'])}.json")
        state.deployments[key] = _deployment(entry, pull_steps, definition)
    for limit in json.loads(outputs[CONCURRENCY_LIMITS_PATH]):
        state.limits[limit["name"]] = {"limit": limit["limit"], "slot_decay_per_second": limit["slot_decay_per_second"]}
    for spec in json.loads(outputs.get(PREFECT_AUTOMATIONS_PATH, "[]")):
        state.automations[spec["name"]] = desired_automation(spec)
    return state
