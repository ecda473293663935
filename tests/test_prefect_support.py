"""Test modules sharing the session's Prefect server start clean: what an earlier module left of the shipped
examples (a run their trigger created that nothing executed, a taken cooldown slot) never reaches the next.

Issue 21, item 7: the spec's script served ``chain_completion_notification``, its executor ran a run an earlier
module's trigger had left waiting in the same deployment, and its own run was Skipped in cooldown.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.prefect_support import ROOT, example_names, forget_automations, using_api

CHAIN = "chain_completion_notification"


async def _serve_examples() -> dict[Any, Any]:
    """The examples' event deployments as an engine or `serve` creates them (no work pool, a trigger each)."""
    from compiler.commands.serve import deploy_for_serving
    from compiler.language.catalog import load_catalog

    return await deploy_for_serving(load_catalog(ROOT / "configs" / "automations"), frozenset({"event"}))


async def _leave_what_an_earlier_module_leaves() -> None:
    """A run of the chain deployment waiting for an executor (what its trigger creates from an event while
    nothing serves it) and the automation's cooldown slot taken (what a run does)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate

    from compiler.language.prefect_names import cooldown_limit_name

    await _serve_examples()
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"{CHAIN}/{CHAIN}")
        await client.create_flow_run_from_deployment(deployment.id)
        await client.update_global_concurrency_limit(cooldown_limit_name(CHAIN), GlobalConcurrencyLimitUpdate(active_slots=1))


async def _what_the_next_module_finds() -> tuple[list[str], int]:
    """After the next module served the examples again: the states of the runs waiting in the chain
    deployment, and the cooldown's active slots."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    from compiler.language.prefect_names import cooldown_limit_name

    await _serve_examples()
    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"{CHAIN}/{CHAIN}")
        runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))
        limit = await client.read_global_concurrency_limit_by_name(cooldown_limit_name(CHAIN))
    return [run.state.name for run in runs if run.state is not None], limit.active_slots


def test_the_next_module_finds_no_waiting_run_and_a_free_cooldown(prefect_server: str) -> None:
    with using_api(prefect_server):
        asyncio.run(_leave_what_an_earlier_module_leaves())
        asyncio.run(forget_automations(example_names()))
        waiting, active_slots = asyncio.run(_what_the_next_module_finds())
        asyncio.run(forget_automations(example_names()))

    assert (waiting, active_slots) == ([], 0)


def test_the_examples_are_known_by_their_shipped_names() -> None:
    assert example_names() == ["chain_completion_notification", "daily_security_scan", "health_alert", "record_push"]
