"""What the Prefect server holds, read-only, in the shapes of :mod:`compiler.commands.plan.desired` (every read paginated)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from compiler.commands.build import DEFINITIONS_DIR
from compiler.commands.plan.desired import deployment_key
from compiler.commands.plan.shapes import concurrency_shape, server_schedule_json, trigger_shape
from compiler.language.prefect_names import AUTOMATIONS_MODULE, COOLDOWN_LIMIT_PREFIX
from compiler.language.prefect_names import is_ours as ours  # deploy --prune's notion of "ours", shared on purpose

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["PAGE", "ObservedState", "read_server"]

PAGE = 200  # the API caps every read at 200 items


@dataclass
class ObservedState:
    """Server objects that matter to the plan; ``ours`` marks deployments ``deploy --prune`` may delete."""

    work_pool_type: str | None = None  # None: the pool does not exist
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    ours: set[str] = field(default_factory=set)
    limits: dict[str, dict[str, Any]] = field(default_factory=dict)
    automations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # name → every automation of that name


async def _paged(client: PrefectClient, path: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every item of a ``POST …/filter`` read, as the API's JSON.

    The JSON rather than the client's response models: validating 1,308 deployments, their flows and limits
    built ~20,000 timestamps the plan never looks at (~0.5 s of `plan`'s CPU in benchmark P12); each shape
    below still goes through Prefect's own schema classes for what it compares.
    """
    found: list[dict[str, Any]] = []
    while True:
        # Prefect types ``path`` as a Literal of its routes (ServerRoutes); ours are among them, given as a plain str.
        response = await client.request("POST", path, json={**(body or {}), "limit": PAGE, "offset": len(found)})  # type: ignore[arg-type]
        page = response.json()
        found.extend(page)
        if len(page) < PAGE:
            return found


async def _deployments(client: PrefectClient, names: Iterable[str], tag: str | None) -> list[dict[str, Any]]:
    """Deployments with one of ``names`` (deploy would update them) or tagged ``tag`` (prune candidates; None: not
    read, as for ``replay``), in one paginated read (an OR filter: two reads of 1,308 deployments took twice as
    long; benchmark P12's plan)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, DeploymentFilterTags, Operator

    wanted = sorted(set(names))
    tagged = DeploymentFilterTags(all_=[tag]) if tag is not None else None
    if wanted and tagged is not None:
        # `operator` comes from Prefect's OperatorMixin, a plain class: pydantic makes it a field, its mypy plugin does not see it.
        deployment_filter = DeploymentFilter(operator=Operator.or_, tags=tagged, name=DeploymentFilterName(any_=wanted))  # type: ignore[call-arg]
    elif wanted:
        deployment_filter = DeploymentFilter(name=DeploymentFilterName(any_=wanted))
    elif tagged is not None:
        deployment_filter = DeploymentFilter(tags=tagged)
    else:
        return []
    found = await _paged(client, "/deployments/filter", {"deployments": deployment_filter.model_dump(mode="json")})
    return list({d["id"]: d for d in found}.values())


async def _flow_names(client: PrefectClient, flow_ids: set[str]) -> dict[str, str]:
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.client.schemas.filters import FlowFilter, FlowFilterId

    if not flow_ids:
        return {}
    # The API's JSON ids are strings; pydantic turns them into the UUIDs the filter declares.
    flow_filter = FlowFilter(id=FlowFilterId(any_=sorted(flow_ids)))  # type: ignore[arg-type]
    return {f["id"]: f["name"] for f in await _paged(client, "/flows/filter", {"flows": flow_filter.model_dump(mode="json")})}


_WORKING_DIRECTORY_STEP = "prefect.deployments.steps.set_working_directory"


def _deployed_definition(deployment: dict[str, Any]) -> dict[str, Any] | None:
    """The compiled definition the deployment's workers load, when their folder is readable from here.

    Workers run ``deployments/definitions/<name>.json`` from the folder their pull step moves to; that
    file, not the API, holds the actions and their parameters. ``{}``: the folder holds the project
    (its ``flows/automations.py``) but the automation was never built into it. None: not comparable
    from here (another pull step, or a folder that is not here: the workers' machines, seen from CI).
    """
    steps = list(deployment.get("pull_steps") or [])
    entrypoint = deployment.get("entrypoint") or ""
    if len(steps) != 1 or not isinstance(steps[0], dict) or _WORKING_DIRECTORY_STEP not in steps[0]:
        return None
    if not entrypoint.startswith(f"{AUTOMATIONS_MODULE}:"):
        return None
    folder = Path(str((steps[0][_WORKING_DIRECTORY_STEP] or {}).get("directory", "")))
    path = folder / DEFINITIONS_DIR / f"{entrypoint.rsplit(':', 1)[1]}.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        # A missing folder (or one without the project) is not "never built": it is somewhere else.
        return {} if (folder / AUTOMATIONS_MODULE).is_file() else None
    except (OSError, ValueError):
        return None
    return data


def _deployment_shape(deployment: dict[str, Any], triggers: list[dict[str, Any]]) -> dict[str, Any]:
    options = deployment.get("concurrency_options") or {}
    limit = (deployment.get("global_concurrency_limit") or {}).get("limit")
    deployment_id = str(deployment["id"])
    shape = {
        "entrypoint": deployment.get("entrypoint"),
        "name": deployment["name"],
        "description": deployment.get("description"),
        "version": deployment.get("version"),
        "tags": list(deployment.get("tags") or []),
        "work_pool": deployment.get("work_pool_name"),
        "work_queue": deployment.get("work_queue_name"),
        "job_variables": deployment.get("job_variables") or {},
        "parameters": deployment.get("parameters") or {},
        "parameter_openapi_schema": deployment.get("parameter_openapi_schema") or {},
        "enforce_parameter_schema": bool(deployment.get("enforce_parameter_schema", True)),
        "pull_steps": list(deployment.get("pull_steps") or []),
        "paused": bool(deployment.get("paused")),
        "concurrency_limit": concurrency_shape(limit, options.get("collision_strategy")),
        "schedules": [server_schedule_json(s) for s in deployment.get("schedules") or []],
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
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module; validate, list and test never need it
    from prefect.exceptions import ObjectNotFound

    state = ObservedState()

    async def pool_type() -> str | None:
        try:
            return str((await client.read_work_pool(work_pool)).type)
        except ObjectNotFound:
            return None

    # The reads do not depend on each other: the server answers one while this process parses another.
    state.work_pool_type, automations, deployments, limits = await asyncio.gather(
        pool_type(),
        _paged(client, "/automations/filter"),
        _deployments(client, deployment_names, tag),
        _paged(client, "/v2/concurrency_limits/filter"),
    )
    flow_names = await _flow_names(client, {d["flow_id"] for d in deployments})
    by_target: dict[str, list[dict[str, Any]]] = {}
    for automation in automations:
        state.automations.setdefault(automation["name"], []).append(automation)
        for target in _targets(automation):
            by_target.setdefault(target, []).append(automation)
    for deployment in deployments:
        key = deployment_key(flow_names.get(deployment["flow_id"], str(deployment["flow_id"])), deployment["name"])
        state.deployments[key] = _deployment_shape(deployment, by_target.get(str(deployment["id"]), []))
        if ours(SimpleNamespace(entrypoint=deployment.get("entrypoint"), tags=deployment.get("tags"))):
            state.ours.add(key)
    wanted = set(limit_names)
    for limit in limits:
        if limit["name"] in wanted or limit["name"].startswith(COOLDOWN_LIMIT_PREFIX):
            state.limits[limit["name"]] = {"limit": limit["limit"], "slot_decay_per_second": limit["slot_decay_per_second"]}
    return state

