"""The deployments ``serve`` runs, registered in bulk: only what differs from the server is written.

Why not Prefect's ``RunnerDeployment.aapply`` per automation, as before: measured at 1,000 automations it
spent ~35 ms of this process's CPU per deployment (git subprocesses inferring a version, building the flow to
derive its parameter schema) and always rewrote the deployment and its triggers, which on the embedded SQLite
server costs ~30 ms of the server's CPU per call (benchmark P13). Here one paged read of our deployments and
automations tells what changed; unchanged deployments cost nothing, new or changed ones are written through
Prefect's client with a few calls in flight (SQLite answers 503 "database is locked" beyond ~4).
Condition automations have no watcher deployment under ``serve``: it checks their groups in its own process
(``flows/conditions/checker.py``); served watcher deployments an earlier version left are removed, since nobody
would run the runs the server keeps scheduling for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyOptions
from prefect.client.schemas.schedules import CronSchedule
from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

from compiler.commands.build import WATCHER_ENTRYPOINT, deployments_for, zombie_automation
from compiler.commands.plan.shapes import concurrency_shape, desired_schedule, desired_triggers, server_schedule, trigger_shape
from compiler.language.catalog import Catalog, LoadedAutomation
from compiler.language.deploy_config import BuildOptions, apply_prefect_automations
from compiler.language.prefect_names import PLATFORM_TAG
from flows.engine.flow_factory import build_flow, parameter_schema_of
from flows.prefect_api.paging import read_all

__all__ = ["Desired", "LazyFlows", "Registration", "desired_for_serving", "register_for_serving", "served_automations"]

# API writes at once. Measured for P13 (294 automations, fresh SQLite server, load 13-16): 1, 2, 4 and 8 in
# flight cost the server the same CPU (18-25 s, within the noise); 8 without the project's quick 503 retries
# (flows/prefect_api/retry.py) failed with "database is locked". More in flight only overlaps this process's share.
_IN_FLIGHT = 4


@dataclass
class Registration:
    """What ``serve`` registered: each served deployment's automation, and what had to be written."""

    automations: dict[UUID, LoadedAutomation] = field(default_factory=dict)  # deployment id → automation
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    @property
    def ids(self) -> dict[str, UUID]:
        """Automation name → its deployment."""
        return {loaded.automation.name: deployment_id for deployment_id, loaded in self.automations.items()}

    def summary(self) -> str:
        counts = ((self.created, "created"), (self.updated, "updated"), (self.unchanged, "unchanged"), (self.removed, "removed"))
        parts = [f"{n} {what}" for n, what in counts if n]
        return f"deployments: {', '.join(parts) or 'none'}"


class LazyFlows(Mapping[UUID, Any]):
    """Deployment id → the automation's flow, built when a run of it is first executed (or its name asked).

    Building all flows up front cost ~10 ms and a share of the memory per automation at 1,000 automations,
    for flows most of which run rarely (benchmark P13: start-up time and RSS of serve).
    """

    def __init__(self, automations: Mapping[UUID, LoadedAutomation]) -> None:
        self._automations = dict(automations)
        self._built: dict[UUID, Any] = {}

    def __getitem__(self, deployment_id: UUID) -> Any:
        built = self._built.get(deployment_id)
        if built is None:
            built = self._built[deployment_id] = build_flow(self._automations[deployment_id])
        return built

    def __iter__(self) -> Iterator[UUID]:
        return iter(self._automations)

    def __len__(self) -> int:
        return len(self._automations)

    def name(self, deployment_id: UUID) -> str:
        """The flow's (the automation's) name, without building the flow."""
        return self._automations[deployment_id].automation.name


def served_automations(catalog: Catalog, trigger_types: frozenset[str] | None = None) -> list[LoadedAutomation]:
    """The enabled automations (of ``trigger_types``, None: all), by name."""
    return sorted(
        (
            loaded
            for loaded in catalog.automations.values()
            if loaded.automation.status == "enabled" and (trigger_types is None or loaded.automation.trigger.type in trigger_types)
        ),
        key=lambda loaded: loaded.automation.name,
    )


# --------------------------------------------------------------------------------------------------
# Desired and observed, in one shape (the plan's shapes: both sides go through Prefect's schema classes)


@dataclass(frozen=True)
class Desired:
    """One served deployment: its automation, the prefect.yaml-style spec, and the shape to compare."""

    loaded: LoadedAutomation
    spec: dict[str, Any]
    shape: dict[str, Any]


def desired_for_serving(catalog: Catalog, trigger_types: frozenset[str] | None = None) -> list[Desired]:
    """What the server should hold, computed without it (``serve`` does it while its embedded server starts)."""
    out = []
    for loaded in served_automations(catalog, trigger_types):
        (spec,) = deployments_for(loaded.automation, BuildOptions())
        out.append(Desired(loaded, spec, _desired(loaded, spec)))
    return out


def _desired(loaded: LoadedAutomation, spec: dict[str, Any]) -> dict[str, Any]:
    limit = spec.get("concurrency_limit")
    return {
        "entrypoint": spec["entrypoint"],
        "name": spec["name"],
        "description": spec["description"],
        "version": spec["version"],
        "tags": list(spec["tags"]),
        "work_pool": None,  # served here: no work pool
        "parameters": dict(spec["parameters"]),
        "parameter_openapi_schema": parameter_schema_of(loaded),
        "paused": False,
        "concurrency_limit": concurrency_shape(limit["limit"], limit["collision_strategy"]) if limit else None,
        "schedules": [desired_schedule(s) for s in spec["schedules"]],
        "triggers": desired_triggers(spec["name"], spec["triggers"]) if spec["triggers"] else {},
        "enforce_parameter_schema": spec["enforce_parameter_schema"],
    }


def _observed(deployment: Any, automations: list[dict[str, Any]]) -> dict[str, Any]:
    options = deployment.concurrency_options
    limit = deployment.global_concurrency_limit.limit if deployment.global_concurrency_limit else None
    return {
        "entrypoint": deployment.entrypoint,
        "name": deployment.name,
        "description": deployment.description,
        "version": deployment.version,
        "tags": list(deployment.tags or []),
        "work_pool": deployment.work_pool_name,
        "parameters": deployment.parameters or {},
        "parameter_openapi_schema": deployment.parameter_openapi_schema or {},
        "paused": bool(deployment.paused),
        "concurrency_limit": concurrency_shape(limit, options.collision_strategy.value if options else None),
        "schedules": [server_schedule(s) for s in deployment.schedules or []],
        "triggers": {a["name"]: trigger_shape(a, str(deployment.id)) for a in automations},
        "enforce_parameter_schema": bool(deployment.enforce_parameter_schema),
    }


def _owner(automation: dict[str, Any]) -> str | None:
    """The deployment id an automation belongs to: its owner (``prefect deploy`` and ``serve`` set it), else
    the deployment its run-deployment action runs."""
    owner = (automation.get("owner_resource") or "").removeprefix("prefect.deployment.")
    if owner:
        return owner
    for action in automation.get("actions") or []:
        if action.get("type") == "run-deployment" and action.get("deployment_id"):
            return str(action["deployment_id"])
    return None


# --------------------------------------------------------------------------------------------------
# Writing


async def _write(client: Any, item: Desired, existing: Any | None, triggers_differ: bool) -> UUID:
    """Create or upsert the deployment (POST /deployments/ updates one of the same flow and name), then
    replace its trigger automations when they differ."""
    loaded, spec, desired = item.loaded, item.spec, item.shape
    flow_id = existing.flow_id if existing is not None else await client.create_flow_from_name(loaded.automation.name)
    limit = spec.get("concurrency_limit")
    deployment_id: UUID = await client.create_deployment(
        flow_id=flow_id,
        name=desired["name"],
        entrypoint=desired["entrypoint"],
        description=desired["description"],
        version=desired["version"],
        tags=desired["tags"],
        parameters=desired["parameters"],
        parameter_openapi_schema=desired["parameter_openapi_schema"],
        paused=False,
        pull_steps=[],
        enforce_parameter_schema=desired["enforce_parameter_schema"],
        schedules=[DeploymentScheduleCreate(schedule=_schedule(s), active=s.get("active", True)) for s in spec["schedules"]],
        concurrency_limit=limit["limit"] if limit else None,
        concurrency_options=ConcurrencyOptions(collision_strategy=limit["collision_strategy"]) if limit else None,
    )
    if existing is None or triggers_differ:
        if existing is not None:
            await client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
        for index, trigger_spec in enumerate(spec["triggers"], start=1):
            trigger = DeploymentEventTrigger.model_validate({"name": f"{desired['name']}__automation_{index}", **trigger_spec})
            trigger.set_deployment_id(deployment_id)
            await client.create_automation(trigger.as_automation())
    return deployment_id


def _schedule(spec: dict[str, Any]) -> Any:
    return CronSchedule(cron=spec["cron"], timezone=spec.get("timezone"), day_or=spec.get("day_or", True))


async def register_for_serving(
    catalog: Catalog, trigger_types: frozenset[str] | None = None, desired: list[Desired] | None = None
) -> Registration:
    """Make the server hold one served deployment per enabled automation (of ``trigger_types``) and the
    zombie-run automation; write only what differs. Cooldown limits are left to each automation's first
    run (its gate creates or corrects the limit; deploying 750 of them up front was 1,500 calls).
    ``desired``: :func:`desired_for_serving` of the same arguments, when already computed."""
    items = desired if desired is not None else desired_for_serving(catalog, trigger_types)
    registration = Registration()
    async with get_client() as client:
        existing = await read_all(client.read_deployments, deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[PLATFORM_TAG])))
        by_key = {(d.entrypoint, d.name): d for d in existing}
        owned: dict[str, list[dict[str, Any]]] = {}
        for automation in await read_all(client.read_automations):
            data = automation.model_dump(mode="json")
            owner = _owner(data)
            if owner is not None:
                owned.setdefault(owner, []).append(data)

        gate = asyncio.Semaphore(_IN_FLIGHT)

        async def register(item: Desired) -> None:
            current = by_key.get((item.shape["entrypoint"], item.shape["name"]))
            if current is not None:
                observed = _observed(current, owned.get(str(current.id), []))
                if observed == item.shape:
                    registration.automations[current.id] = item.loaded
                    registration.unchanged += 1
                    return
                triggers_differ = observed["triggers"] != item.shape["triggers"]
            else:
                triggers_differ = True
            async with gate:
                deployment_id = await _write(client, item, current, triggers_differ)
            registration.automations[deployment_id] = item.loaded
            if current is None:
                registration.created += 1
            else:
                registration.updated += 1

        await asyncio.gather(*(register(item) for item in items))
        if trigger_types is None or "condition" in trigger_types:
            registration.removed = await _remove_served_watchers(client, existing)
        await apply_prefect_automations(client, [zombie_automation()])
    # Keep the catalog's order (by name) for whoever lists them.
    order = {item.loaded.automation.name: i for i, item in enumerate(items)}
    registration.automations = dict(sorted(registration.automations.items(), key=lambda item: order[item[1].automation.name]))
    return registration


async def _remove_served_watchers(client: Any, existing: list[Any]) -> int:
    """Delete watcher deployments an earlier serve made (no work pool): their schedules would keep filling
    the server with runs nobody executes now that serve checks conditions in its own process."""
    stale = [d for d in existing if d.entrypoint == WATCHER_ENTRYPOINT and d.work_pool_name is None]
    for deployment in stale:
        await client.delete_deployment(deployment.id)
    return len(stale)
