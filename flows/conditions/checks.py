"""One check of a condition group: read the metrics source once, evaluate every member, start those that fire.

A quiet check creates no flow run. A member whose condition holds and that is not in cooldown gets a run of
its deployment, as the per-automation watcher started it: ``condition`` = the check's trigger data, the
idempotency key ``condition-watcher:<check id>`` (one run per automation and check, whichever checker saw it
first). The cooldown is only *read* here; the automation flow's gate takes the slot atomically.

Each check is recorded where people look: the registry keeps the last result of every member (entity
``condition_checks/<group>``, shown by ``python -m compiler runs NAME``), and Prefect's event feed gets
``platform-god.condition.fired`` for every run started and ``platform-god.condition.changed`` when a
member's state (holds, clear, problem, unavailable) differs from its previous check. A check that read its
source also emits one ``platform-god.condition.checked`` for the whole group, holding every member's condition
and the values checked (``flows/conditions/check_events.py``), which ``python -m compiler replay`` reads back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect.events import emit_event
from prefect.exceptions import ObjectNotFound

from compiler.language.condition_groups import ConditionGroup, GroupMember, group_name, source_label
from compiler.language.condition_groups import check_id as make_check_id
from compiler.language.model.automation import Automation
from compiler.language.prefect_names import AUTOMATION_LABEL, CONDITION_GROUP_LABEL, WATCHER_FLOW_NAME, cooldown_limit_name
from flows.conditions.check_events import record_group_check
from flows.conditions.evaluate import ConditionResult, MetricsUnavailable, _json_safe, _show, evaluate_condition, read_metrics
from flows.registry import Deadline, RegistryError, RegistryStore

__all__ = [
    "CHECKS_ENTITY_TYPE",
    "CheckReport",
    "MemberResult",
    "check_group",
    "in_cooldown",
    "last_check",
]

log = logging.getLogger("platform_god.conditions")

CHECKS_ENTITY_TYPE = "condition_checks"
HOLDS, CLEAR, PROBLEM, UNAVAILABLE = "holds", "clear", "problem", "unavailable"
STARTED, COOLDOWN, NO_DEPLOYMENT, FAILED = "started", "cooldown", "no deployment", "failed"
_MAX_STORED_VALUE_CHARS = 500  # a matched value can be a whole sub-document: the record keeps a short form
_PARALLEL_API_CALLS = 4  # cooldown reads and run creations of one check (SQLite servers answer 503 beyond that)
_EVALUATE_IN_THREAD_FROM = 50  # members: a big group is evaluated and recorded off the event loop serve's runs share


@dataclass
class MemberResult:
    """One member's outcome of a check: ``state`` of its condition and what the check did about it."""

    name: str
    state: str
    value: Any
    reason: str
    action: str = ""
    flow_run_id: str | None = None


@dataclass
class CheckReport:
    """One check of one group."""

    group: str
    check_id: str
    checked_at: str
    source: str
    results: list[MemberResult] = field(default_factory=list)
    # Members whose state differs from their previous check: name → state before (never checked: not here).
    changed: dict[str, str] = field(default_factory=dict)

    def count(self, *, state: str | None = None, action: str | None = None) -> int:
        return sum(1 for r in self.results if (state is None or r.state == state) and (action is None or r.action == action))

    @property
    def started(self) -> list[MemberResult]:
        return [r for r in self.results if r.action == STARTED]

    def summary(self) -> str:
        """``check registry-every-60s@…: 120 condition(s) on the registry; 1 started, 2 in cooldown, 117 clear``."""
        parts = [
            f"{n} {label}"
            for n, label in (
                (self.count(action=STARTED), "started"),
                (self.count(action=COOLDOWN), "in cooldown"),
                (self.count(action=NO_DEPLOYMENT), "without a deployment"),
                (self.count(action=FAILED), "failed to start"),
                (self.count(state=CLEAR), "clear"),
                (self.count(state=PROBLEM), "cannot be checked"),
                (self.count(state=UNAVAILABLE), "unavailable"),
            )
            if n
        ]
        return f"check {self.check_id}: {len(self.results)} condition(s) on {self.source}; {', '.join(parts) or 'nothing to check'}"

    def record(self) -> dict[str, Any]:
        """What the registry keeps of it (JSON)."""
        return {
            "check_id": self.check_id,
            "checked_at": self.checked_at,
            "source": self.source,
            "automations": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in self.results},
        }


# --------------------------------------------------------------------------------------------------
# Evaluating


def _stored_value(value: Any) -> Any:
    safe = _json_safe(value)
    try:
        text = json.dumps(safe)
    except (TypeError, ValueError):
        return _show(value, _MAX_STORED_VALUE_CHARS)
    return safe if len(text) <= _MAX_STORED_VALUE_CHARS else _show(value, _MAX_STORED_VALUE_CHARS)


def _evaluate(member: GroupMember, document: Any) -> tuple[MemberResult, Any]:
    """The member's result and the trigger data a run would get (None when it does not fire)."""
    try:
        result = evaluate_condition(member.condition, document)
    except Exception as exc:  # noqa: BLE001 - a document's content never fails a check: it is that member's problem
        result = ConditionResult(False, None, f"{type(exc).__name__}: {exc}", problem=f"{type(exc).__name__}: {exc}")
    value = _stored_value(result.value)
    if result.fired:
        return MemberResult(member.name, HOLDS, value, result.reason), result
    if result.problem is not None:
        return MemberResult(member.name, PROBLEM, value, result.problem), None
    return MemberResult(member.name, CLEAR, value, result.reason), None


def _evaluate_all(members: tuple[GroupMember, ...], document: Any) -> list[tuple[MemberResult, Any]]:
    return [_evaluate(member, document) for member in members]


# --------------------------------------------------------------------------------------------------
# Acting


async def in_cooldown(client: Any, automation: str) -> bool:
    """Read-only: True when the cooldown limit has no free slot now. A missing limit means no cooldown yet."""
    try:
        limit = await client.read_global_concurrency_limit_by_name(cooldown_limit_name(automation))
    except ObjectNotFound:
        return False  # the automation flow's gate creates it on its first run
    # The server applies slot decay when reading, so active_slots is the current occupancy.
    return bool(limit.active) and limit.active_slots >= limit.limit


async def _deployment_id(client: Any, automation: str, known: Mapping[str, UUID] | None) -> UUID:
    if known is not None and automation in known:
        return known[automation]
    deployment = await client.read_deployment_by_name(f"{automation}/{automation}")
    return deployment.id


async def _start(client: Any, member: GroupMember, result: MemberResult, data: dict[str, Any], check: str,
                 known: Mapping[str, UUID] | None, gate: asyncio.Semaphore) -> None:
    async with gate:
        try:
            if member.cooldown_seconds > 0 and await in_cooldown(client, member.name):
                result.action = COOLDOWN
                result.reason = f"in cooldown ({member.cooldown_seconds}s after the last run); condition holds: {result.reason}"
                return
            deployment_id = await _deployment_id(client, member.name, known)
            run = await client.create_flow_run_from_deployment(
                deployment_id,
                parameters={"condition": data},
                # One run per automation and check: a second checker of this tick, or a retried watcher run,
                # gets this run back instead of a new one (Prefect scopes the key to the automation's flow).
                idempotency_key=f"{WATCHER_FLOW_NAME}:{check}",
            )
        except ObjectNotFound:
            result.action = NO_DEPLOYMENT
            result.reason = (f"condition holds ({result.reason}) but deployment {member.name}/{member.name} does not exist; "
                             "run `python -m compiler deploy`")
            return
        except Exception as exc:  # noqa: BLE001 - one member's API failure must not stop the others' runs
            result.action = FAILED
            result.reason = f"condition holds ({result.reason}) but its run could not be created: {type(exc).__name__}: {exc}"
            return
    result.action, result.flow_run_id = STARTED, str(run.id)


# --------------------------------------------------------------------------------------------------
# Recording


def _read_previous(group: str) -> dict[str, str]:
    try:
        record = RegistryStore.from_settings().get(CHECKS_ENTITY_TYPE, group)
    except RegistryError:
        return {}
    automations = (record.data.get("automations") if record is not None else None) or {}
    return {name: str(item.get("state")) for name, item in automations.items() if isinstance(item, dict)}


def _store(report: CheckReport) -> None:
    try:
        RegistryStore.from_settings().apply(CHECKS_ENTITY_TYPE, report.group, "upsert", report.record(), Deadline.after(10))
    except RegistryError as exc:
        log.warning("could not record check %s in the registry: %s", report.check_id, exc)


def _emit(report: CheckReport, group: ConditionGroup, previous: Mapping[str, str]) -> int:
    """An event per member that fired or changed state; how many were emitted."""
    emitted = 0
    for result in report.results:
        before = previous.get(result.name)
        if before is not None and before != result.state:
            report.changed[result.name] = before
        if result.action == STARTED:
            kind = "fired"
        elif before is not None and before != result.state:
            kind = "changed"
        else:
            continue
        related = (
            [{"prefect.resource.id": f"prefect.flow-run.{result.flow_run_id}", "prefect.resource.role": "flow-run"}]
            if result.flow_run_id
            else []
        )
        emit_event(
            event=f"platform-god.condition.{kind}",
            resource={
                "prefect.resource.id": f"platform-god.condition.{result.name}",
                AUTOMATION_LABEL: result.name,
                CONDITION_GROUP_LABEL: group.name,
            },
            related=related,
            payload={
                "check_id": report.check_id,
                "state": result.state,
                "previous_state": before,
                "value": result.value,
                "reason": result.reason,
                "action": result.action,
                "flow_run_id": result.flow_run_id,
            },
        )
        emitted += 1
    return emitted


# --------------------------------------------------------------------------------------------------
# One check


async def check_group(
    group: ConditionGroup,
    tick: datetime,
    client: Any,
    *,
    deployment_ids: Mapping[str, UUID] | None = None,
    previous: dict[str, str] | None = None,
) -> CheckReport:
    """Check every member of ``group`` for the check time ``tick``; start the runs of those that fire.

    ``deployment_ids`` (automation → its deployment) saves a read per run started; without it the deployment
    ``NAME/NAME`` is read. ``previous`` (automation → state at its last check, to tell changes) is read from
    the registry when None (a watcher run on a worker, or a checker's first check).
    """
    check = make_check_id(group.name, tick)
    report = CheckReport(group.name, check, datetime.now(UTC).isoformat(), source_label(group.source))
    last = previous if previous is not None else await asyncio.to_thread(_read_previous, group.name)
    try:
        document = await read_metrics(group.source)
    except (MetricsUnavailable, RegistryError) as exc:
        report.results = [MemberResult(m.name, UNAVAILABLE, None, f"metrics unavailable: {exc}") for m in group.members]
    else:
        if len(group.members) >= _EVALUATE_IN_THREAD_FROM:
            evaluated = await asyncio.to_thread(_evaluate_all, group.members, document)
        else:
            evaluated = _evaluate_all(group.members, document)
        gate = asyncio.Semaphore(_PARALLEL_API_CALLS)
        starts = []
        for member, (result, fired) in zip(group.members, evaluated, strict=True):
            report.results.append(result)
            if fired is not None:
                data = fired.as_trigger_data(member.condition, check)
                starts.append(_start(client, member, result, data, check, deployment_ids, gate))
        await asyncio.gather(*starts)  # first: a run that fires is due within the interval + 1 s (P14)
        checked = [(m.name, m.condition, r.state == HOLDS) for m, r in zip(group.members, report.results, strict=True)]
        record = (group.name, group.interval_seconds, check, checked, document)
        if len(group.members) >= _EVALUATE_IN_THREAD_FROM:
            await asyncio.to_thread(record_group_check, *record)
        else:
            record_group_check(*record)
    await asyncio.to_thread(_store, report)
    _emit(report, group, last)
    return report


def last_check(automation: Automation) -> dict[str, Any] | None:
    """The last recorded check of a condition automation: its member entry plus ``check_id`` and ``checked_at``."""
    trigger = automation.trigger
    if trigger.type != "condition":
        return None
    group = group_name(trigger.condition.source, trigger.condition.check_interval_seconds)
    record = RegistryStore.from_settings().get(CHECKS_ENTITY_TYPE, group)
    if record is None:
        return None
    entry = (record.data.get("automations") or {}).get(automation.name)
    if not isinstance(entry, dict):
        return None
    return {"group": group, "check_id": record.data.get("check_id"), "checked_at": record.data.get("checked_at"), **entry}
