"""Prefect task options of an action, in one place: retries, backoff, jitter, timeout, caching, retry rules,
and the exception a failed try raises (its message and retry class)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from prefect.tasks import exponential_backoff

from compiler.language.model.actions import ActionBase
from compiler.language.settings import get_settings
from flows.actions.base import ActionError, ActionType, NotRetryable, is_retryable
from flows.engine.failure_messages import describe_exception, is_permanent_os_error
from flows.exactly_once.idempotency import policy_for

__all__ = ["clean_failure", "exactly_once", "retry_delays", "task_options"]


def clean_failure(exc: BaseException, action_name: str) -> Exception:
    """The exception an action task raises for ``exc``: our one-line message, and the retry class kept
    (a disk-full or permission error is never retried). ``AUTOMATIONS_VERBOSE_ERRORS`` logs the original
    traceback first."""
    message = describe_exception(exc)
    if get_settings().verbose_errors:
        _run_logger().error("action %s failed: %s", action_name, message, exc_info=exc)
    if isinstance(exc, NotRetryable) or is_permanent_os_error(exc):
        return NotRetryable(message)
    return ActionError(message, retryable=is_retryable(exc))


def _run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """The task run's logger (its lines reach the Prefect UI), or the module's logger outside a run."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def _retry_condition(task: Any, task_run: Any, state: Any) -> bool:
    data = getattr(state, "data", None)
    exc = data if isinstance(data, BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as raised:  # noqa: BLE001 - we only classify it
            exc = raised
    return is_retryable(exc)


def retry_delays(action: ActionBase) -> float | list[float]:
    if action.retry_count == 0:
        return 0
    if action.retry_backoff == "exponential" and action.retry_delay_seconds > 0:
        return exponential_backoff(backoff_factor=action.retry_delay_seconds)(action.retry_count)
    return action.retry_delay_seconds


# Margin over the try's timeout for a Redis lock's TTL: network round trips and clock differences.
_HOLD_MARGIN_SECONDS = 10.0


def _hold_seconds(action: ActionBase) -> float:
    """Longest a living holder keeps an idempotency lock: one try. Prefect takes the lock when a try's
    transaction begins and releases it when it ends, both inside the try's timeout (retry delays are
    outside), so a lock still held after timeout + margin belongs to a dead process."""
    return action.timeout_seconds + _HOLD_MARGIN_SECONDS


def exactly_once(action: ActionBase, action_type: ActionType[Any]) -> bool:
    """Whether the action's result is persisted and keyed per occurrence: its type has side effects
    (``ActionType.side_effects``) and idempotency is not switched off for it."""
    return action_type.side_effects and action.idempotency.enabled


def task_options(action: ActionBase, action_type: ActionType[Any], results_dir: Path, shared_storage: Any | None) -> dict[str, Any]:
    """Keyword arguments for ``Task.with_options`` of this action (of type ``action_type``).

    ``shared_storage``: the loaded ``AUTOMATIONS_RESULT_STORAGE`` block (``flows.exactly_once.result_storage``), None for this
    machine's results folder.
    """
    options: dict[str, Any] = {
        "name": action.name,
        "task_run_name": action.name,
        "retries": action.retry_count,
        "retry_delay_seconds": retry_delays(action),
        "timeout_seconds": action.timeout_seconds,
        "retry_condition_fn": _retry_condition,
    }
    if action.retry_jitter:
        options["retry_jitter_factor"] = action.retry_jitter
    if not exactly_once(action, action_type):
        # Nothing stored, no key, no lock: measured 65-78 ms per run of persistence alone (issue 11, P2).
        return options | {"persist_result": False, "cache_policy": NO_CACHE}
    settings = get_settings()
    # Data and cache records need separate folders: both are files named by the key. A storage block
    # shared by every worker (e.g. "s3-bucket/automations") holds metadata and data in one object, so no
    # separate key storage; for exactly-once across machines the lock must be shared too (AUTOMATIONS_LOCK_URL).
    options["persist_result"] = True
    options["result_storage"] = results_dir / "data" if shared_storage is None else shared_storage
    options["cache_policy"] = policy_for(
        results_dir / "keys" if shared_storage is None else None, results_dir / "locks", _hold_seconds(action), settings.lock_url
    )
    if action.idempotency.expire_seconds:
        options["cache_expiration"] = timedelta(seconds=action.idempotency.expire_seconds)
    return options
