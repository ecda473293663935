"""Gates checked before any action runs: the missed-schedule policy and the cooldown (Prefect-enforced)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from compiler.model.automation import Automation
from flows.run_context import Occurrence, RunInputs

__all__ = ["check_gates", "cooldown_limit_name", "missed_run_reason", "CooldownUnavailable"]


class CooldownUnavailable(RuntimeError):
    """The cooldown limit could not be checked; the run fails rather than risk breaking the cooldown."""


def cooldown_limit_name(automation_name: str) -> str:
    return f"automation-cooldown-{automation_name}"


def missed_run_reason(
    policy: str, grace_seconds: int, scheduled: datetime, now: datetime, newer_due: datetime | None
) -> str | None:
    """Why a late scheduled run is skipped, or None when it should run."""
    lateness = (now - scheduled).total_seconds()
    if policy == "all" or lateness <= grace_seconds:
        return None
    if policy == "none":
        return f"missed: started {lateness:.0f}s after its scheduled time {scheduled.isoformat()} (grace {grace_seconds}s, policy none)"
    if newer_due is not None:
        return f"missed: superseded by the newer scheduled run at {newer_due.isoformat()} (policy last)"
    return None


async def _newer_due_run(flow_run_id: str, deployment_id: str, scheduled: datetime, now: datetime) -> datetime | None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterId,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                expected_start_time=FlowRunFilterExpectedStartTime(after_=scheduled, before_=now),
                id=FlowRunFilterId(not_any_=[flow_run_id]),
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=5,
        )
    newer = [r.expected_start_time for r in runs if r.auto_scheduled and r.expected_start_time and r.expected_start_time > scheduled]
    return max(newer) if newer else None


async def _take_cooldown_slot(automation: Automation) -> str | None:
    """Atomic on the server: of many simultaneous runs exactly one gets the slot; the rest answer 423."""
    import httpx
    from prefect.client.orchestration import get_client

    name = cooldown_limit_name(automation.name)
    async with get_client() as client:
        try:
            await client.increment_concurrency_slots(names=[name], slots=1, mode="rate_limit")
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 423:
                return f"in cooldown ({automation.trigger.cooldown_seconds}s after the last run)"
            if exc.response.status_code == 404:
                # Not deployed with its limit (local run against a bare server): create it, then retry once.
                await _ensure_limit(client, automation)
                return await _take_cooldown_slot(automation)
            raise CooldownUnavailable(f"cooldown check failed: HTTP {exc.response.status_code}") from None
    return None


async def _ensure_limit(client: Any, automation: Automation) -> None:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists

    try:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(
                name=cooldown_limit_name(automation.name),
                limit=1,
                slot_decay_per_second=1 / automation.trigger.cooldown_seconds,
            )
        )
    except ObjectAlreadyExists:
        pass


async def check_gates(automation: Automation, occurrence: Occurrence, run: RunInputs) -> str | None:
    """The reason to skip this run, or None. Manual runs are not gated: an operator asked for them."""
    if occurrence.trigger_type == "manual":
        return None
    if occurrence.trigger_type == "time" and automation.trigger.type == "time" and run.scheduled_time:
        from prefect.runtime import deployment, flow_run

        policy = automation.trigger.time.missed_runs
        scheduled = datetime.fromisoformat(run.scheduled_time)
        now = datetime.now(timezone.utc)
        newer = None
        if policy.policy == "last" and (now - scheduled).total_seconds() > policy.grace_seconds:
            deployment_id = deployment.get_id()
            if deployment_id:
                newer = await _newer_due_run(str(flow_run.get_id()), deployment_id, scheduled, now)
        reason = missed_run_reason(policy.policy, policy.grace_seconds, scheduled, now, newer)
        if reason:
            return reason
    if automation.trigger.cooldown_seconds > 0:
        return await _take_cooldown_slot(automation)
    return None

