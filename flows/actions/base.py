"""What every action type provides (parameters model + executor) and what the runtime gives it (context)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from compiler.model.base import StrictModel

__all__ = [
    "ActionContext",
    "ActionError",
    "ActionParameters",
    "ActionType",
    "EventSink",
    "LogLevel",
    "LOG_LEVELS",
]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
LOG_LEVELS: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class ActionParameters(StrictModel):
    """Base of every action's parameters; strings may hold templates, rendered before execution."""


P = TypeVar("P", bound=ActionParameters)


class ActionError(Exception):
    """An action failure with its class: ``retryable`` errors (timeouts, connection, 5xx) are tried again."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


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
    """One row of the action table: name, parameters model and the coroutine that executes it.

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
