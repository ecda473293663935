"""The runtime side of an action type (its executor), what the runtime gives it (context) and how it fails (retryable or not)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from compiler.language.model.actions import ActionParameters, ActionSpec, LogLevel

__all__ = [
    "LOG_LEVELS",
    "ActionContext",
    "ActionError",
    "ActionParameters",
    "ActionType",
    "EventSink",
    "LogLevel",
    "NotRetryable",
    "is_retryable",
]

LOG_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


P = TypeVar("P", bound=ActionParameters)


class ActionError(Exception):
    """An action failure with its class: ``retryable`` errors (timeouts, connection, 5xx) are tried again."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


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
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    # deferred: importing httpx costs ~40 ms, and `test` and `dry-run` load this module without classifying a failure
    import httpx

    if isinstance(exc, httpx.TimeoutException | httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return True  # unexpected errors from plug-ins: give them the configured retries


# (event name, resource labels, payload) → published event id; the runtime wires it to Prefect events.
EventSink = Callable[[str, Mapping[str, str], Mapping[str, Any]], Any]


@dataclass
class ActionContext:
    """Everything an action may use at run time; built by the engine so actions stay plain Python."""

    automation: str
    action_name: str
    run_id: str
    logger: logging.Logger | logging.LoggerAdapter[Any]
    variables: Mapping[str, Any]
    outputs: Mapping[str, Any]
    publish: EventSink
    deadline_seconds: float
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionType(Generic[P]):
    """One row of the runtime's action table: the language's spec (name, description, parameters) and the
    coroutine that executes it. Build rows with ``ActionType.of(SPEC, execute)``.

    ``side_effects``: whether executing it changes anything outside the run (a request sent, a file or a
    registry row written, an event published that may trigger other automations). Only such actions are
    made exactly-once per occurrence (persisted result, idempotency key, lock); an action without side
    effects simply runs again when its occurrence is re-run, which costs less than storing its result.
    """

    name: str
    description: str
    parameters: type[P]
    execute: Callable[[P, ActionContext], Awaitable[Any]]
    side_effects: bool = True

    @classmethod
    def of(cls, spec: ActionSpec[P], execute: Callable[[P, ActionContext], Awaitable[Any]], *, side_effects: bool = True) -> ActionType[P]:
        """The runtime row of the language's ``spec``."""
        return cls(spec.name, spec.description, spec.parameters, execute, side_effects)
