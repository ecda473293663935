"""Gates checked before any action runs: the missed-schedule policy and the cooldown (Prefect-enforced)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from compiler.language.model.automation import Automation
from compiler.language.prefect_names import cooldown_limit_name
from flows.engine.run_context import Occurrence, RunInputs

__all__ = ["CooldownUnavailable", "check_gates", "cooldown_limit_name", "missed_run_reason"]


class CooldownUnavailable(RuntimeError):
    """The cooldown limit could not be checked; the run fails rather than risk breaking the cooldown."""


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
    # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run check gates without a Prefect server
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
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[UUID(deployment_id)])),
            flow_run_filter=FlowRunFilter(
                # Any aware datetime (pydantic validates it); the annotation names Prefect's own DateTime type.
                expected_start_time=FlowRunFilterExpectedStartTime(after_=scheduled, before_=now),  # type: ignore[arg-type]
                id=FlowRunFilterId(not_any_=[UUID(flow_run_id)]),
            ),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=5,
        )
    newer = [r.expected_start_time for r in runs if r.auto_scheduled and r.expected_start_time and r.expected_start_time > scheduled]
    return max(newer) if newer else None


# Limits this process has seen configured for the current cooldown: a served or in-process run pays the
# read only once per automation (a worker's run is a process of its own and reads it once).
_VERIFIED_LIMITS: set[tuple[str, float]] = set()


async def _take_cooldown_slot(automation: Automation) -> str | None:
    """Atomic on the server: of many simultaneous runs exactly one gets the slot; the rest answer 423.

    The limit is made to exist with this automation's decay first, whatever deployed it (plain
    `prefect deploy --all` creates no limits, an operator may have deleted it, a cooldown may have
    changed): Prefect 3.9 answers ``200 []`` to an increment of an unknown limit, so "no such limit"
    would otherwise read as "free" and the cooldown would silently be off.
    """
    # deferred: httpx costs ~110 ms (measured); test and dry-run check gates without a Prefect server
    import httpx
    from prefect.client.orchestration import get_client

    name = cooldown_limit_name(automation.name)
    async with get_client() as client:
        await _ensure_limit(client, automation)
        try:
            response = await client.increment_concurrency_slots(names=[name], slots=1, mode="rate_limit")
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code == 423:
                return f"in cooldown ({automation.trigger.cooldown_seconds}s after the last run)"
            raise CooldownUnavailable(f"cooldown check failed: HTTP {exc.response.status_code}") from None
        except httpx.HTTPError as exc:
            raise CooldownUnavailable(f"cooldown check failed: {type(exc).__name__}: {exc}") from None
    taken = {item.get("name") for item in response.json()}
    if name not in taken:
        # Deleted between our check and the increment: refuse rather than run without a cooldown.
        _VERIFIED_LIMITS.discard((name, _decay(automation)))
        raise CooldownUnavailable(f"cooldown limit {name} disappeared while taking its slot; the run was not started")
    return None


def _decay(automation: Automation) -> float:
    return 1 / automation.trigger.cooldown_seconds


async def _ensure_limit(client: Any, automation: Automation) -> None:
    """Create the limit when missing, fix its size or decay when they differ; race-free (create or update)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run check gates without a Prefect server
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    name, decay = cooldown_limit_name(automation.name), _decay(automation)
    if (name, decay) in _VERIFIED_LIMITS:
        return
    try:
        limit = await client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        # Already there: another first run created it a moment ago, the same limit, and its slot is shared.
        with contextlib.suppress(ObjectAlreadyExists):
            await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1, slot_decay_per_second=decay))
    else:
        if limit.limit != 1 or abs(limit.slot_decay_per_second - decay) > 1e-12:
            await client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=1, slot_decay_per_second=decay))
    _VERIFIED_LIMITS.add((name, decay))


async def check_gates(automation: Automation, occurrence: Occurrence, run: RunInputs) -> str | None:
    """The reason to skip this run, or None. Manual runs are not gated: an operator asked for them."""
    if occurrence.trigger_type == "manual":
        return None
    if occurrence.trigger_type == "time" and automation.trigger.type == "time" and run.scheduled_time:
        # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run check gates without a Prefect server
        from prefect.runtime import deployment, flow_run

        policy = automation.trigger.time.missed_runs
        scheduled = datetime.fromisoformat(run.scheduled_time)
        now = datetime.now(UTC)
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

