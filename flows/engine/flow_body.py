"""The automation flow body: gates, inputs, then each action as a Prefect task in order, with a run summary."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import Task, get_run_logger, task
from prefect.runtime import flow_run
from prefect.states import Completed, Failed, State
from prefect.utilities.annotations import quote
from pydantic import ValidationError

from compiler.language.catalog import LoadedAutomation
from compiler.language.model.actions import ActionBase
from compiler.language.settings import get_settings
from compiler.language.templates import MissingVariable, TemplateSyntaxError, iter_placeholders, render_value
from flows.actions import ACTION_TYPES, ActionContext, ActionError
from flows.actions.base import NotRetryable
from flows.actions.secrets import SecretBox, SecretNotFound, resolve_secret
from flows.engine.admission import check_gates
from flows.engine.failure_messages import plain_message, validation_message
from flows.engine.run_context import (
    Occurrence,
    RunInputs,
    builtin_variables,
    missing_inputs,
    resolve_occurrence,
    template_variables,
)
from flows.engine.summary import remember_summary, summary_rows
from flows.engine.task_options import clean_failure, exactly_once, task_options
from flows.events.publish import publish as emit
from flows.exactly_once.idempotency import action_key
from flows.exactly_once.occurrences import CACHED, read_completed, record_completed
from flows.exactly_once.result_storage import shared_storage_block

__all__ = ["SKIPPED", "ActionRecord", "run_automation"]

SKIPPED = "Skipped"
_INNER_DEADLINE_MARGIN = 0.5


@dataclass
class ActionRecord:
    """One action's outcome as the run saw it (the Prefect task run holds the authoritative state)."""

    name: str
    type: str
    status: str
    attempts: int = 0
    duration_ms: int = 0
    summary: str = ""
    cached: bool = False
    continue_on_failure: bool = False


@dataclass
class _RunState:
    outputs: dict[str, Any] = field(default_factory=dict)
    records: list[ActionRecord] = field(default_factory=list)
    stopped_by: str | None = None


def _summarise(value: Any, limit: int = 160) -> str:
    if isinstance(value, Mapping):
        for key in ("summary", "message", "status_code", "relative_path", "delivered"):
            if key in value:
                text = f"{key}={value[key]}"
                break
        else:
            text = ", ".join(f"{k}" for k in list(value)[:6])
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _secret_refs(raw: Any) -> set[str]:
    return {ph.secret for _, ph in iter_placeholders(raw) if ph.secret}


async def _execute_action(
    action: ActionBase,
    automation_name: str,
    run_id: str,
    variables: dict[str, Any],
    cache_key: str | None,
    render_error: str | None,
) -> Any:
    """The body of every action task. A failure is re-raised as a clean exception carrying our one-line message
    (flows/engine/failure_messages.py: causes and files named, control characters escaped) with its retry class kept.
    Raised, not returned as a Failed state: Prefect 3.9 releases a SERIALIZABLE idempotency lock twice for a
    returned Failed state after retries ("No lock held by …"). Readers drop Prefect's message prefix."""
    try:
        return await _run_action(action, automation_name, run_id, variables, render_error)
    except Exception as exc:  # noqa: BLE001 - every failure leaves with our message
        raise clean_failure(exc, action.name) from None


async def _run_action(
    action: ActionBase, automation_name: str, run_id: str, variables: dict[str, Any], render_error: str | None
) -> Any:
    """Render with secrets, validate, execute, redact."""
    if render_error:
        raise NotRetryable(render_error)
    action_type = ACTION_TYPES[action.type]
    raw = action.parameters.model_dump(mode="json", by_alias=True, exclude_none=True)
    box = SecretBox()
    resolved: dict[str, str] = {}
    for name in sorted(_secret_refs(raw)):
        try:
            resolved[name] = await resolve_secret(name)
        except SecretNotFound as exc:
            raise NotRetryable(f"{exc}; nothing was executed") from None  # a config error: retrying cannot help
        box.remember(resolved[name])
    logger = get_run_logger()
    try:
        # One pass over the YAML's own templates: values from events are never parsed again.
        rendered = render_value(raw, variables, secret=resolved.__getitem__)
        params = action_type.parameters.model_validate(rendered)
    except MissingVariable as exc:
        raise NotRetryable(f"{exc}; nothing was executed") from None
    except ValueError as exc:
        detail = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
        raise NotRetryable(box.redact_text(f"parameters invalid after rendering templates: {detail}")) from None
    context = ActionContext(
        automation=automation_name,
        action_name=action.name,
        run_id=run_id,
        logger=logger,
        variables=variables,
        outputs=variables.get("outputs", {}),
        publish=_publisher(automation_name),
        # Prefect's task timeout ends the try (state TimedOut); the actions' own deadlines are a safety
        # net a little later, so the two never race to name the failure.
        deadline_seconds=action.timeout_seconds + _INNER_DEADLINE_MARGIN,
        extras={"secrets": box},
    )
    with box.install_log_filter():
        try:
            output = await action_type.execute(params, context)
        except Exception as exc:  # noqa: BLE001 - whatever the action raised leaves only with its secrets redacted
            raise _redacted(box, exc) from None
    return box.redact(output)


def _redacted(box: Any, exc: Exception) -> BaseException:
    """``exc`` with secrets redacted, keeping its retry class.

    ``SecretBox.redact_exception`` rebuilds the exception from its message alone, so an
    ``ActionError(retryable=True)`` (5xx, timeout) came back non-retryable and retries never ran.
    """
    redacted = box.redact_exception(exc)
    if isinstance(exc, ActionError) and isinstance(redacted, ActionError):
        redacted.retryable = exc.retryable
    return redacted


def _publisher(automation: str) -> Any:
    def publish(kind: str, labels: Mapping[str, str], payload: Mapping[str, Any]) -> Any:
        return emit(kind, labels, payload, automation)

    return publish


@task(name="skipped-action")
def _skipped(reason: str) -> State:
    return Completed(name=SKIPPED, message=reason)


_action_task = task(_execute_action)

# One configured task per action: ``with_options`` builds a new Task, and Prefect reads the function's
# source to key it (~5 ms each, measured: 20 actions paid ~0.1 s per run). Keyed by the action object
# (kept alive by the entry, so its id cannot be reused) and the results folder the options point at.
_ACTION_TASKS: dict[int, tuple[ActionBase, Path, Any, Task[..., Any]]] = {}
_ACTION_TASKS_MAX = 4096


def _action_task_for(action: ActionBase, results_dir: Path, shared_storage: Any | None) -> Task[..., Any]:
    cached = _ACTION_TASKS.get(id(action))
    if cached is not None and cached[0] is action and cached[1] == results_dir and cached[2] is shared_storage:
        return cached[3]
    if len(_ACTION_TASKS) >= _ACTION_TASKS_MAX:
        _ACTION_TASKS.clear()
    configured = _action_task.with_options(**task_options(action, ACTION_TYPES[action.type], results_dir, shared_storage))
    _ACTION_TASKS[id(action)] = (action, results_dir, shared_storage, configured)
    return configured


def _render_for_key(action: ActionBase, variables: dict[str, Any]) -> tuple[Any, str | None]:
    """Parameters rendered with secrets left as references: what the idempotency key and logs may see."""
    raw = action.parameters.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        return render_value(raw, variables), None
    except (MissingVariable, TemplateSyntaxError, TypeError) as exc:
        return None, f"action '{action.name}': {exc}; nothing was executed"


def _occurrence_part(action: ActionBase, variables: dict[str, Any], occurrence: Occurrence) -> str:
    if action.idempotency.key:
        try:
            return f"custom:{render_value(action.idempotency.key, variables)}"
        except MissingVariable:
            return occurrence.key
    return occurrence.key


async def run_automation(loaded: LoadedAutomation, run: RunInputs) -> State | dict[str, Any]:
    """Run every action in order; the flow ends Completed, Completed(Skipped) or Failed with the reason."""

    automation = loaded.automation
    logger = get_run_logger()
    run_id = str(flow_run.get_id() or "local")
    occurrence = resolve_occurrence(run, run_id)
    completed = await read_completed(loaded, occurrence, run)
    if completed is not None:
        # Every action of this occurrence already completed: answer before any task starts.
        message, rows = completed.answer()
        remember_summary(run_id, automation.name, occurrence, rows)
        logger.info(message)
        return Completed(name=CACHED, message=message, data={"occurrence": occurrence.key, "actions": rows})
    gate = await check_gates(automation, occurrence, run)
    if gate is not None:
        logger.info("skipped: %s", gate)
        return Completed(name=SKIPPED, message=gate)
    missing = missing_inputs(automation, loaded.inputs, run)
    if missing:
        hint = " ".join(f"--param {m}=..." for m in missing)
        return Failed(message=f"missing input(s): {', '.join(missing)}; give them as flow parameters ({hint})")

    builtins = builtin_variables(automation, run_id, datetime.now(UTC), occurrence)
    settings = get_settings()
    shared_storage = await shared_storage_block()
    state = _RunState()
    for action in automation.actions:
        if state.stopped_by is not None:
            reason = f"not run: action '{state.stopped_by}' failed and has continue_on_failure: false"
            _skipped.with_options(name=action.name, task_run_name=action.name)(reason)
            state.records.append(ActionRecord(action.name, action.type, SKIPPED, summary=reason))
            continue
        variables = template_variables(automation, loaded.inputs, run, builtins, state.outputs)
        display, render_error = _render_for_key(action, variables)
        key = None
        if render_error is None and exactly_once(action, ACTION_TYPES[action.type]):
            key = action_key(
                automation.name, action.name, action.type, display, _occurrence_part(action, variables, occurrence)
            )
        action_task = _action_task_for(action, settings.results_dir, shared_storage)
        started = time.monotonic()
        # quote(): Prefect would otherwise walk the action model and every variable (outputs of earlier
        # actions included) looking for upstream futures; there are none, and the walk grew with each action.
        task_state = await action_task(
            quote(action), automation.name, run_id, quote(variables), key, render_error, return_state=True
        )
        record = ActionRecord(
            name=action.name,
            type=action.type,
            status=task_state.name or task_state.type.value,
            duration_ms=int((time.monotonic() - started) * 1000),
            cached=task_state.name == CACHED,
            continue_on_failure=action.continue_on_failure,
        )
        if task_state.is_completed():
            output = await task_state.aresult()
            state.outputs[action.name] = output
            record.summary = _summarise(output)
        else:
            record.summary = plain_message(task_state.message or "") or "failed"
            logger.error("action %s ended %s: %s", action.name, record.status, record.summary)
            if not action.continue_on_failure:
                state.stopped_by = action.name
        state.records.append(record)

    rows = summary_rows(state.records)
    remember_summary(run_id, automation.name, occurrence, rows)
    failed = [r for r in state.records if r.status not in ("Completed", CACHED, SKIPPED)]
    summary = {"occurrence": occurrence.key, "actions": [asdict(r) for r in state.records]}
    if state.stopped_by is not None:
        reason = next(r.summary for r in state.records if r.name == state.stopped_by)
        return Failed(message=f"action '{state.stopped_by}' failed: {reason}", data=summary)
    message = f"{len(state.records) - len(failed)}/{len(state.records)} actions succeeded"
    if failed:
        message += f"; failed with continue_on_failure: {', '.join(r.name for r in failed)}"
    elif all(r.status in ("Completed", CACHED) for r in state.records):
        await record_completed(loaded, occurrence, run, run_id, message, rows)
    return Completed(message=message, data=summary)
