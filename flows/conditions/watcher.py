"""The condition watcher: ``flows/conditions/watcher.py:condition_watcher``, deployed once per condition group.

``group=NAME``: each scheduled run (every interval of the group) checks every condition automation that
reads the group's metrics source on that interval, reading the document once (``flows/conditions/checks.py``):
one flow run per source and interval instead of one per automation. This is how workers check conditions;
``serve`` checks the same groups in its own process without flow runs (``flows/conditions/checker.py``).

``automation=NAME``: the watcher of one automation, as deployed before checks were batched (kept so such
deployments keep working until ``deploy --prune`` removes them). Each run reads the metrics document from
the trigger's source, evaluates the condition and, when it holds and the automation is not in cooldown,
creates a flow run of the automation's deployment with ``condition`` = the check's trigger data. The
cooldown is only *read* here; the automation flow's gate takes the slot atomically, so two watchers racing
(or a watcher racing a manual run) still execute the actions once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.deployments import arun_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State

from compiler.language.condition_groups import GROUPS_INDEX_PATH, check_tick, condition_groups, group_name, members_from_index
from compiler.language.prefect_names import WATCHER_FLOW_NAME
from flows.conditions.check_events import record_group_check  # `replay` re-checks changed conditions on the recorded values
from flows.conditions.checks import check_group, in_cooldown
from flows.conditions.evaluate import ConditionResult, MetricsUnavailable, evaluate_condition, read_metrics
from flows.engine.definitions import catalog, load_automation
from flows.prefect_api import clients as api_clients
from flows.registry import RegistryError

api_clients.install()  # quick retries of SQLite 503s, one TLS context (see flows/prefect_api/clients.py)

__all__ = ["SKIPPED", "WATCHER_FLOW_NAME", "condition_watcher"]

SKIPPED = "Skipped"


async def _in_cooldown(automation_name: str) -> bool:
    """Read-only: True when the cooldown limit has no free slot now. A missing limit means no cooldown yet."""
    async with get_client() as client:
        return await in_cooldown(client, automation_name)


def _result(fired: bool, value: Any, reason: str, flow_run_id: str | None = None) -> dict[str, Any]:
    return {"fired": fired, "value": value, "reason": reason, "flow_run_id": flow_run_id}


def _group(name: str) -> Any:
    """The group from build's index (``deployments/condition_groups.json``), else from the automations' files."""
    if GROUPS_INDEX_PATH.is_file():
        index = json.loads(GROUPS_INDEX_PATH.read_text(encoding="utf-8"))
        return members_from_index(name, index) if name in index else None
    return condition_groups(loaded.automation for loaded in catalog().automations.values()).get(name)


async def _check_group(name: str) -> State:
    """One check of the group ``name`` for this run's scheduled time (a late or retried run checks the same tick)."""
    logger = get_run_logger()
    group = _group(name)
    if group is None:
        message = (f"no condition automation reads the source of group '{name}' any more "
                   "(remove this deployment with `python -m compiler deploy --prune`)")
        logger.error(message)
        return Failed(message=message)
    scheduled = flow_run.get_scheduled_start_time()
    tick = check_tick(group.interval_seconds, scheduled if scheduled is not None else datetime.now(UTC))
    async with get_client() as client:
        report = await check_group(group, tick, client)
    unavailable = [r for r in report.results if r.state == "unavailable"]
    if unavailable:  # one reason for every member: said once
        logger.warning("%s; %d condition(s) not checked this time", unavailable[0].reason, len(unavailable))
    for result in report.results:
        if result.action:
            logger.info("%s: %s%s", result.name, result.reason, f" (started {result.flow_run_id})" if result.flow_run_id else "")
        elif result.state == "problem":
            logger.warning("%s: cannot check the condition: %s", result.name, result.reason)
    logger.info(report.summary())
    return Completed(message=report.summary(), data=report.record())


@flow(name=WATCHER_FLOW_NAME, persist_result=False, validate_parameters=True)
async def condition_watcher(automation: str | None = None, group: str | None = None) -> State:
    """Check the conditions of ``group`` (every automation reading one source on one interval), or of one
    ``automation`` (a watcher deployed before checks were batched); start the runs of those that hold."""
    if group is not None:
        return await _check_group(group)
    if automation is None:
        message = "the condition watcher needs a group (or an automation) to check"
        get_run_logger().error(message)
        return Failed(message=message)
    return await _check_one(automation)


async def _check_one(automation: str) -> State:
    """Check ``automation``'s condition once; start its deployment when the condition holds."""
    logger = get_run_logger()
    try:
        loaded = load_automation(automation)
    except KeyError as exc:
        message = f"no automation '{automation}': {exc.args[0]} (remove this deployment with `python -m compiler deploy --prune`)"
        logger.error(message)
        return Failed(message=message, data=_result(False, None, message))
    definition = loaded.automation
    if definition.trigger.type != "condition":
        message = f"automation '{automation}' has a {definition.trigger.type} trigger, not a condition"
        logger.error(message)
        return Failed(message=message, data=_result(False, None, message))
    if definition.status != "enabled":
        message = f"automation '{automation}' is {definition.status}"
        logger.info(message)
        return Completed(name=SKIPPED, message=message, data=_result(False, None, message))

    spec = definition.trigger.condition
    try:
        document = await read_metrics(spec.source)
    except (MetricsUnavailable, RegistryError) as exc:
        message = f"metrics unavailable: {exc}"
        logger.warning("%s; the condition is not checked this time", message)
        return Completed(message=message, data=_result(False, None, message))

    try:
        result = evaluate_condition(spec, document)
    except Exception as exc:  # noqa: BLE001 - a document's content never fails the watcher: log it, do not fire
        result = ConditionResult(False, None, f"{type(exc).__name__}: {exc}", problem=f"{type(exc).__name__}: {exc}")
    # Recorded as a check of the group it belongs to, with this run's id as the check id (as its runs get it).
    interval = spec.check_interval_seconds
    record_group_check(group_name(spec.source, interval), interval, str(flow_run.get_id() or ""), [(automation, spec, result.fired)], document)
    trigger_data = result.as_trigger_data(spec, "")  # JSON-safe values (NaN, huge integers) for state and run
    problem = None if result.fired else result.problem
    if problem is not None:
        logger.warning("cannot check the condition: %s", problem)
        return Completed(message=f"cannot check the condition: {problem}", data=_result(False, trigger_data["value"], problem))
    if not result.fired:
        logger.info("condition does not hold: %s", result.reason)
        return Completed(message=f"condition does not hold: {result.reason}", data=_result(False, trigger_data["value"], result.reason))

    if definition.trigger.cooldown_seconds > 0 and await _in_cooldown(automation):
        message = f"in cooldown ({definition.trigger.cooldown_seconds}s after the last run); condition holds: {result.reason}"
        logger.info(message)
        return Completed(name=SKIPPED, message=message, data=_result(True, trigger_data["value"], message))

    # The check id is this watcher run's id: a retried watcher run is the same occurrence (same
    # idempotency keys in the automation run) and, through the flow-run idempotency key, the same run.
    check_id = str(flow_run.get_id())
    deployment = f"{automation}/{automation}"
    try:
        created = await arun_deployment(
            name=deployment,
            parameters={"condition": result.as_trigger_data(spec, check_id)},
            timeout=0,
            idempotency_key=f"{WATCHER_FLOW_NAME}:{check_id}",
            # Not a subflow: the automation run stands on its own (cancelling or cleaning up the
            # watcher run must not cancel it).
            as_subflow=False,
        )
    except ObjectNotFound:
        message = f"condition holds ({result.reason}) but deployment {deployment} does not exist; run `python -m compiler deploy`"
        logger.error(message)
        return Failed(message=message, data=_result(True, trigger_data["value"], message))
    logger.info("condition holds (%s): started %s", result.reason, created.id)
    return Completed(
        message=f"started {created.id}: {result.reason}",
        data=_result(True, trigger_data["value"], result.reason, str(created.id)),
    )
