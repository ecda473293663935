"""What the Prefect server holds, read-only, in the shapes of :mod:`compiler.plan.desired` (every read paginated)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compiler.build import AUTOMATIONS_MODULE, DEFINITIONS_DIR
from compiler.deploy import COOLDOWN_LIMIT_PREFIX
from compiler.deploy import is_ours as ours  # deploy --prune's notion of "ours", shared on purpose
from compiler.plan.desired import deployment_key
from compiler.plan.shapes import concurrency_shape, server_schedule, trigger_shape

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["ObservedState", "PAGE", "read_server"]

PAGE = 200  # the API caps every read at 200 items


@dataclass
class ObservedState:
    """Server objects that matter to the plan; ``ours`` marks deployments ``deploy --prune`` may delete."""

    work_pool_type: str | None = None  # None: the pool does not exist
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    ours: set[str] = field(default_factory=set)
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    automations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # name → every automation of that name


async def _paged(read: Callable[..., Awaitable[list[Any]]], **kwargs: Any) -> list[Any]:
    found: list[Any] = []
    while True:
        page = await read(limit=PAGE, offset=len(found), **kwargs)
        found.extend(page)
        if len(page) < PAGE:
            return found


async def _deployments(client: PrefectClient, names: Iterable[str], tag: str | None) -> list[Any]:
    """Deployments with one of ``names`` (deploy would update them) or tagged ``tag`` (prune candidates; None: not read)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, DeploymentFilterTags

    by_id: dict[Any, Any] = {}
    wanted = sorted(set(names))
    filters = [DeploymentFilter(tags=DeploymentFilterTags(all_=[tag]))] if tag is not None else []
    if wanted:
        filters.append(DeploymentFilter(name=DeploymentFilterName(any_=wanted)))
    for deployment_filter in filters:
        for deployment in await _paged(client.read_deployments, deployment_filter=deployment_filter):
            by_id[deployment.id] = deployment
    return list(by_id.values())


async def _flow_names(client: PrefectClient, flow_ids: set[Any]) -> dict[Any, str]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterId

    if not flow_ids:
        return {}
    flows = await _paged(client.read_flows, flow_filter=FlowFilter(id=FlowFilterId(any_=sorted(flow_ids, key=str))))
    return {f.id: f.name for f in flows}


_WORKING_DIRECTORY_STEP = "prefect.deployments.steps.set_working_directory"


def _deployed_definition(deployment: Any) -> dict[str, Any] | None:
    """The compiled definition the deployment's workers load, when its folder is readable from here.

    Workers run ``deployments/definitions/<name>.json`` from the folder their pull step moves to; that
    file, not the API, holds the actions and their parameters. None when the folder is elsewhere.
    """
    steps = list(deployment.pull_steps or [])
    entrypoint = deployment.entrypoint or ""
    if len(steps) != 1 or not isinstance(steps[0], dict) or _WORKING_DIRECTORY_STEP not in steps[0]:
        return None
    if not entrypoint.startswith(f"{AUTOMATIONS_MODULE}:"):
        return None
    folder = Path(str((steps[0][_WORKING_DIRECTORY_STEP] or {}).get("directory", "")))
    path = folder / DEFINITIONS_DIR / f"{entrypoint.rsplit(':', 1)[1]}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}  # the folder is here but the automation was never built into it
    except (OSError, ValueError):
        return None
    return data


def _deployment_shape(deployment: Any, triggers: list[dict[str, Any]]) -> dict[str, Any]:
    options = deployment.concurrency_options
    limit = deployment.global_concurrency_limit.limit if deployment.global_concurrency_limit else None
    deployment_id = str(deployment.id)
    shape = {
        "entrypoint": deployment.entrypoint,
        "name": deployment.name,
        "description": deployment.description,
        "version": deployment.version,
        "tags": list(deployment.tags or []),
        "work_pool": deployment.work_pool_name,
        "job_variables": deployment.job_variables or {},
        "parameters": deployment.parameters or {},
        "parameter_openapi_schema": deployment.parameter_openapi_schema or {},
        "pull_steps": list(deployment.pull_steps or []),
        "paused": bool(deployment.paused),
        "concurrency_limit": concurrency_shape(limit, options.collision_strategy.value if options else None),
        "schedules": [server_schedule(s) for s in deployment.schedules or []],
        "triggers": {t["name"]: trigger_shape(t, deployment_id) for t in triggers},
    }
    definition = _deployed_definition(deployment)
    if definition is not None:
        shape["definition"] = definition
    return shape


def _targets(automation: dict[str, Any]) -> set[str]:
    """Deployments an automation runs: `prefect deploy` makes each trigger an automation running its deployment."""
    actions = [*automation.get("actions", []), *automation.get("actions_on_trigger", []), *automation.get("actions_on_resolve", [])]
    return {str(a["deployment_id"]) for a in actions if a.get("type") == "run-deployment" and a.get("deployment_id")}


async def read_server(
    client: PrefectClient, *, work_pool: str, deployment_names: Iterable[str], limit_names: Iterable[str], tag: str | None
) -> ObservedState:
    """Read everything the plan compares; never writes."""
    from prefect.exceptions import ObjectNotFound

    state = ObservedState()
    try:
        state.work_pool_type = (await client.read_work_pool(work_pool)).type
    except ObjectNotFound:
        state.work_pool_type = None
    automations = [a.model_dump(mode="json") for a in await _paged(client.read_automations)]
    by_target: dict[str, list[dict[str, Any]]] = {}
    for automation in automations:
        state.automations.setdefault(automation["name"], []).append(automation)
        for target in _targets(automation):
            by_target.setdefault(target, []).append(automation)
    deployments = await _deployments(client, deployment_names, tag)
    flow_names = await _flow_names(client, {d.flow_id for d in deployments})
    for deployment in deployments:
        key = deployment_key(flow_names.get(deployment.flow_id, str(deployment.flow_id)), deployment.name)
        state.deployments[key] = _deployment_shape(deployment, by_target.get(str(deployment.id), []))
        if ours(deployment):
            state.ours.add(key)
    wanted = set(limit_names)
    for limit in await _paged(client.read_global_concurrency_limits):
        if limit.name in wanted or limit.name.startswith(COOLDOWN_LIMIT_PREFIX):
            state.limits[limit.name] = {"limit": limit.limit, "slot_decay_per_second": limit.slot_decay_per_second}
    return state

