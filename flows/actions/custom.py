"""Action ``custom``: call an action registered in code or by entry point; YAML names it, never an import path."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from pydantic import Field

from flows.actions.base import ActionContext, ActionError, ActionParameters, ActionType

__all__ = ["CustomParameters", "ACTION", "register_custom_action", "registered_custom_actions", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "platform_god.actions"
_REGISTERED: dict[str, Callable[..., Any]] = {}


class CustomParameters(ActionParameters):
    action_name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$", description="Name of a registered custom action."
    )
    arguments: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments; may use templates.")


def register_custom_action(name: str, func: Callable[..., Any] | None = None) -> Any:
    """Register ``func(arguments: dict, context: ActionContext)`` (sync or async); usable as a decorator."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        _REGISTERED[name] = f
        return f

    return decorate(func) if func is not None else decorate


def registered_custom_actions() -> dict[str, Callable[..., Any] | None]:
    """Names known now: in-code registrations, plus entry points (loaded on use, so None here)."""
    names: dict[str, Callable[..., Any] | None] = {ep.name: None for ep in entry_points(group=ENTRY_POINT_GROUP)}
    names.update(_REGISTERED)
    return names


def _resolve(name: str) -> Callable[..., Any]:
    if name in _REGISTERED:
        return _REGISTERED[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            return ep.load()  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001 - a broken plug-in is a config error of this action
            raise ActionError(f"custom action '{name}' failed to load from {ep.value}: {exc}") from None
    known = ", ".join(sorted(registered_custom_actions())) or "none registered"
    raise ActionError(f"unknown custom action '{name}' (known: {known})")


async def execute(params: CustomParameters, ctx: ActionContext) -> Any:
    func = _resolve(params.action_name)
    if inspect.iscoroutinefunction(func):
        return await func(params.arguments, ctx)
    # Sync plug-ins run in a thread so the action deadline still ends the wait.
    return await asyncio.to_thread(func, params.arguments, ctx)


ACTION = ActionType("custom", "Execute a custom registered action.", CustomParameters, execute)
