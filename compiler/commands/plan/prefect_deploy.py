"""One prefect.yaml deployment applied the way `prefect deploy --all --no-prompt` applies it, through Prefect's RunnerDeployment.

`prepare` follows ``prefect.cli.deploy._core._run_single_deploy`` (Prefect 3.9.1) step by step for a
non-interactive run with no command-line options, calling Prefect's own functions for each step (the
CLI-private ones through flows/prefect_api/seam.py); `write` is its ``RunnerDeployment.aapply`` (create or
update, schedules, trigger automations replaced) plus the SLA step. Two things are done once per deploy
instead of once per deployment, with the same result: loading the flow (``FlowCatalog``) and inferring
the version info from git or the CI environment. Build and push steps are not run: prefect.yaml files
that have them are refused (the build writes none).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from compiler.commands.plan.flow_facts import FlowCatalog

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

__all__ = ["FlowIds", "PreparedDeployment", "WorkPools", "create", "prepare", "write"]

WorkPools = Callable[[str], Awaitable[Any]]  # work pool name → the pool (ValueError when missing), cached by the caller


@dataclass
class PreparedDeployment:
    """What `prefect deploy` would send for one entry, validated, before anything is written."""

    key: str  # "flow/name"
    deployment: Any  # prefect.deployments.runner.RunnerDeployment, triggers included
    schedules: list[dict[str, Any]] | None
    sla: list[dict[str, Any]] | None


async def prepare(
    config: dict[str, Any], actions: dict[str, Any], *, flows: FlowCatalog, client: PrefectClient, work_pools: WorkPools
) -> PreparedDeployment:
    """The RunnerDeployment `prefect deploy` builds for ``config`` (one entry of prefect.yaml's ``deployments``).

    Call it with ``os.environ`` as `prefect deploy` would see it: ``{{ $NAME }}`` placeholders come from there.
    Raises ValueError with Prefect's own message for what `prefect deploy` refuses.
    """
    # deferred: Prefect costs ~1 s CPU to import (measured); every command loads this module through deploy; only deploy uses it
    from prefect.deployments.runner import RunnerDeployment
    from prefect.utilities.collections import get_from_dict
    from prefect.utilities.templating import apply_values, resolve_block_document_references, resolve_variables

    from flows.prefect_api.seam import (
        prefect_deploy_config,
        prefect_deploy_schedules,
        prefect_deploy_triggers,
        pull_step_storage,
        set_defaults_from_flow,
    )

    deploy_config = prefect_deploy_config(config)
    if deploy_config.get("build", actions.get("build")) or deploy_config.get("push", actions.get("push")):
        raise ValueError("prefect.yaml has build or push steps; deploy it with `prefect deploy --all`")
    pull_steps = deploy_config.get("pull", actions.get("pull")) or []
    effective_pull = deploy_config["pull"] if "pull" in deploy_config else actions.get("pull")
    explicit_no_pull = effective_pull == []

    deploy_config = await resolve_block_document_references(deploy_config, client=client)
    deploy_config = await resolve_variables(deploy_config, client=client)
    deploy_config = cast(dict[str, Any], apply_values(deploy_config, dict(os.environ), remove_notset=False))  # a mapping in, a mapping out
    if not deploy_config.get("entrypoint"):
        raise ValueError("An entrypoint must be provided")
    facts = flows.facts(deploy_config["entrypoint"])
    deploy_config["flow_name"] = facts.name
    deployment_name = deploy_config.get("name")
    if not deployment_name:
        raise ValueError("A deployment name must be provided.")
    work_pool_name = get_from_dict(deploy_config, "work_pool.name")
    if not work_pool_name:
        raise ValueError("A work pool is required to deploy this flow. Please specify a work pool name in your prefect.yaml file.")
    work_pool = await work_pools(work_pool_name)
    if work_pool.type == "prefect-agent":
        raise ValueError("Cannot create a project-style deployment with work pool of type 'prefect-agent'.")

    if explicit_no_pull:
        pull_steps = []
    else:
        pull_steps = pull_steps or deploy_config.get("pull") or actions.get("pull")
        if not pull_steps:
            # `prefect deploy` then generates a pull step from the folder it runs in (or asks).
            raise ValueError("prefect.yaml has no pull steps; deploy it with `prefect deploy --all`")

    if not deploy_config.get("description"):
        deploy_config["description"] = facts.description
    deploy_config["schedules"] = prefect_deploy_schedules(deploy_config)
    schedules = deploy_config.pop("schedules")
    trigger_specs = deploy_config.pop("triggers", None)
    # Templating with the (empty) step outputs, {{ ctx.* }} left for the worker, as `prefect deploy` does.
    deploy_config = apply_values(deploy_config, {}, warn_on_notset=True, skip_prefixes=["ctx."])
    deploy_config["schedules"] = schedules
    triggers: list[Any] = []
    if trigger_specs:
        templated = []
        for spec in trigger_specs:
            parameters = spec.pop("parameters", None)  # event templates such as {{ event.id }} stay as they are
            filled = apply_values(spec, {}, warn_on_notset=False)
            if parameters is not None:
                filled["parameters"] = parameters
            templated.append(filled)
        triggers = prefect_deploy_triggers(deployment_name, templated)
    if isinstance(deploy_config.get("concurrency_limit"), dict):
        options = {"collision_strategy": get_from_dict(deploy_config, "concurrency_limit.collision_strategy")}
        grace_period_seconds = get_from_dict(deploy_config, "concurrency_limit.grace_period_seconds")
        if grace_period_seconds is not None:
            options["grace_period_seconds"] = grace_period_seconds
        deploy_config["concurrency_options"] = options
        deploy_config["concurrency_limit"] = get_from_dict(deploy_config, "concurrency_limit.limit")
    pull_steps = apply_values(pull_steps, {}, remove_notset=False)

    deployment = RunnerDeployment(
        name=deploy_config["name"],
        flow_name=deploy_config.get("flow_name"),
        entrypoint=deploy_config.get("entrypoint"),
        work_pool_name=get_from_dict(deploy_config, "work_pool.name"),
        work_queue_name=get_from_dict(deploy_config, "work_pool.work_queue_name"),
        parameters=deploy_config.get("parameters"),
        description=deploy_config.get("description"),
        version=deploy_config.get("version") or None,
        version_type=deploy_config.get("version_type") or None,
        tags=deploy_config.get("tags"),
        concurrency_limit=deploy_config.get("concurrency_limit"),
        concurrency_options=deploy_config.get("concurrency_options"),
        paused=deploy_config.get("paused"),
        storage=pull_step_storage(pull_steps),
        job_variables=get_from_dict(deploy_config, "work_pool.job_variables"),
        # `prefect deploy` creates them after aapply (which first deleted the deployment's old ones);
        # given here, aapply deletes and creates them itself: the same automations, one request fewer.
        triggers=triggers,
    )
    set_defaults_from_flow(
        deployment,
        parameter_schema=facts.parameter_schema.model_copy(deep=True),
        version=lambda: facts.version,
        description=lambda: facts.description,
    )
    if deploy_config.get("enforce_parameter_schema") is not None:
        deployment.enforce_parameter_schema = deploy_config.get("enforce_parameter_schema")
    return PreparedDeployment(f"{facts.name}/{deployment_name}", deployment, schedules, deploy_config.get("sla"))


async def write(prepared: PreparedDeployment, client: PrefectClient, inferred_version: Any) -> Any:
    """Create or update the deployment and replace its trigger automations (``RunnerDeployment.aapply``); its id."""
    # deferred: the seam imports Prefect, ~1 s CPU (measured); every command loads this module through deploy; only deploy uses it
    from flows.prefect_api.seam import apply_slas, deployment_version_info

    deployment = prepared.deployment
    version_info = deployment_version_info(deployment, inferred_version)
    deployment_id = await deployment.aapply(schedules=prepared.schedules, version_info=version_info)
    if prepared.sla is not None:
        await apply_slas(client, deployment_id, prepared.sla)
    return deployment_id


class FlowIds:
    """Each flow's id, created (or found) once per deploy: `prefect deploy` asks per deployment, and 333
    condition watchers share one flow."""

    def __init__(self, client: PrefectClient) -> None:
        self._client = client
        self._ids: dict[str, asyncio.Task[Any]] = {}

    async def get(self, name: str) -> Any:
        if name not in self._ids:
            self._ids[name] = asyncio.ensure_future(self._client.create_flow_from_name(name))
        return await self._ids[name]


async def create(prepared: PreparedDeployment, client: PrefectClient, inferred_version: Any, flow_ids: FlowIds) -> Any:
    """Create a deployment the plan found missing, as ``RunnerDeployment.aapply`` creates it (``_create``), with
    fewer requests: the flow id comes from ``flow_ids``; no read by name (the plan just read the server) and no
    delete of trigger automations (a new deployment owns none). Its id."""
    # deferred: the seam imports Prefect, ~1 s CPU (measured); every command loads this module through deploy; only deploy uses it
    from flows.prefect_api.seam import apply_slas, deployment_create_payload, deployment_version_info

    deployment = prepared.deployment
    version_info = deployment_version_info(deployment, inferred_version)
    payload = deployment_create_payload(deployment, prepared.schedules, version_info)
    deployment_id = await client.create_deployment(flow_id=await flow_ids.get(deployment.flow_name), **payload)
    for trigger in deployment.triggers:
        trigger.set_deployment_id(deployment_id)
        await client.create_automation(trigger.as_automation())
    if prepared.sla is not None:
        await apply_slas(client, deployment_id, prepared.sla)
    return deployment_id
