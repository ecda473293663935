"""What ``deploy`` would put on the server: the build's outputs, in memory, as canonical shapes (nothing is written)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from compiler.commands.build import (
    CONCURRENCY_LIMITS_PATH,
    DEFINITIONS_DIR,
    PREFECT_AUTOMATIONS_PATH,
    PREFECT_YAML_PATH,
    parsed_prefect_yaml,
)
from compiler.commands.build import plan_outputs as build_outputs  # the build's own "what would be written", errors included
from compiler.commands.plan.flow_facts import FlowCatalog
from compiler.commands.plan.shapes import concurrency_shape, desired_automation, desired_schedule, desired_triggers
from compiler.language.deploy_config import BuildOptions, deploy_environment
from compiler.language.diagnostics import Diagnostic
from compiler.language.prefect_names import AUTOMATIONS_MODULE, WATCHER_ENTRYPOINT, WATCHER_FLOW_NAME

__all__ = ["DesiredState", "deployment_key", "desired_from_outputs", "desired_state", "environment", "flow_name_of"]


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


DEFAULT_WORK_QUEUE = "default"  # the queue Prefect creates with every work pool


def flow_name_of(entrypoint: str) -> str:
    """The Prefect flow behind one of our entrypoints (the automation's name, or the watcher flow)."""
    return WATCHER_FLOW_NAME if entrypoint == WATCHER_ENTRYPOINT else entrypoint.rsplit(":", 1)[1]


def deployment_key(flow_name: str, name: str) -> str:
    return f"{flow_name}/{name}"


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Prefect resolves ``{{ $NAME }}`` from os.environ only; show it the environment deploy runs `prefect deploy` with."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _deployment(entry: dict[str, Any], pull_steps: list[Any], definition: str | None, flows: FlowCatalog) -> dict[str, Any]:
    work_pool = entry.get("work_pool") or {}
    limit = entry.get("concurrency_limit")
    if isinstance(limit, dict):
        concurrency = concurrency_shape(limit.get("limit"), limit.get("collision_strategy"))
    else:
        concurrency = concurrency_shape(limit, None)
    return {
        "entrypoint": entry["entrypoint"],
        "name": entry["name"],
        "description": entry.get("description"),
        "version": entry.get("version"),
        "tags": list(entry.get("tags") or []),
        "work_pool": work_pool.get("name"),
        # None: `prefect deploy` sends none and the server puts the deployment on the pool's default queue.
        "work_queue": work_pool.get("work_queue_name") or DEFAULT_WORK_QUEUE,
        "job_variables": work_pool.get("job_variables") or {},
        "parameters": entry.get("parameters") or {},
        # The flow's parameter schema as `prefect deploy` sends it (from the same compiled definition the worker loads).
        "parameter_openapi_schema": flows.facts(entry["entrypoint"]).schema_json(),
        "enforce_parameter_schema": bool(entry.get("enforce_parameter_schema", True)),  # Prefect's default: enforced
        "pull_steps": pull_steps,
        "paused": bool(entry.get("paused", False)),
        "concurrency_limit": concurrency,
        "schedules": [desired_schedule(s) for s in entry.get("schedules") or []],
        "triggers": desired_triggers(entry["name"], list(entry.get("triggers") or [])),
        **({"definition": json.loads(definition)} if definition is not None else {}),
    }


def desired_state(config_dir: Path, project_root: Path, options: BuildOptions) -> DesiredState:
    """The build's outputs for ``config_dir`` read back as deploy would apply them; ``errors`` set on config errors."""
    outputs, errors, warnings = build_outputs(config_dir, options)
    state = DesiredState(work_pool=options.work_pool, errors=list(errors), warnings=list(warnings))
    if errors:
        return state
    return desired_from_outputs(outputs, project_root, options, state)


def desired_from_outputs(
    outputs: dict[Path, str], project_root: Path, options: BuildOptions, state: DesiredState | None = None, flows: FlowCatalog | None = None
) -> DesiredState:
    """The desired state of a build's outputs (``deploy`` has them from its build; ``plan`` computes them)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.utilities.templating import apply_values

    state = state if state is not None else DesiredState(work_pool=options.work_pool)
    flows = flows if flows is not None else FlowCatalog.from_outputs(project_root, outputs)
    project = parsed_prefect_yaml(outputs[PREFECT_YAML_PATH])
    with environment(deploy_environment(project_root)):
        # `prefect deploy` fills in {{ $NAME }} from its environment: the project folder for $PWD.
        project = cast(dict[str, Any], apply_values(project, {}, remove_notset=False))  # a mapping in, a mapping out
    pull_steps = project.get("pull") or []
    for entry in project.get("deployments") or []:
        entrypoint = entry["entrypoint"]
        key = deployment_key(flows.facts(entrypoint).name, entry["name"])
        # What workers of an automation's flow run (actions and their parameters): they read it from the project folder.
        is_automation = entrypoint.startswith(f"{AUTOMATIONS_MODULE}:")
        definition = outputs.get(DEFINITIONS_DIR / f"{entrypoint.rsplit(':', 1)[1]}.json") if is_automation else None
        state.deployments[key] = _deployment(entry, pull_steps, definition, flows)
    for limit in json.loads(outputs[CONCURRENCY_LIMITS_PATH]):
        state.limits[limit["name"]] = {"limit": limit["limit"], "slot_decay_per_second": limit["slot_decay_per_second"]}
    for spec in json.loads(outputs.get(PREFECT_AUTOMATIONS_PATH, "[]")):
        state.automations[spec["name"]] = desired_automation(spec)
    return state
