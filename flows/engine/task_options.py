"""Prefect task options of an action, in one place: retries, backoff, jitter, timeout, caching, retry rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from prefect.tasks import exponential_backoff

from compiler.language.model.actions import ActionBase
from flows.actions.base import ActionError
from flows.exactly_once.idempotency import policy_for
from compiler.language.settings import get_settings

__all__ = ["exactly_once", "task_options", "is_retryable", "retry_delays", "NotRetryable"]


class NotRetryable(Exception):
    """Configuration problems (bad template, invalid rendered parameters): retrying cannot help."""


def is_retryable(exc: BaseException | None) -> bool:
    """Timeouts, connection errors and server-side (5xx) failures are retried; 4xx and config errors are not."""
    if exc is None:
        return True
    if isinstance(exc, ActionError):
        return exc.retryable
    if isinstance(exc, NotRetryable):
        return False
    if isinstance(exc, TimeoutError | httpx.TimeoutException | httpx.TransportError | ConnectionError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return True  # unexpected errors from plug-ins: give them the configured retries


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


def exactly_once(action: ActionBase) -> bool:
    """Whether the action's result is persisted and keyed per occurrence: it has side effects and
    idempotency is not switched off for it (the per-type rule is ``ActionType.side_effects``)."""
    from flows.actions import ACTION_TYPES

    return ACTION_TYPES[action.type].side_effects and action.idempotency.enabled  # type: ignore[attr-defined]


def task_options(action: ActionBase, results_dir: Path, shared_storage: Any | None) -> dict[str, Any]:
    """Keyword arguments for ``Task.with_options`` of this action.

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
    if not exactly_once(action):
        from prefect.cache_policies import NO_CACHE

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
