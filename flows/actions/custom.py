"""Action ``custom``: call an action registered in code or by entry point; YAML names it, never an import path."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from compiler.language.model.actions.custom import SPEC, CustomParameters
from compiler.language.plugins import ACTION_ENTRY_POINT_GROUP as ENTRY_POINT_GROUP
from compiler.language.plugins import CUSTOM_ACTIONS as _REGISTERED
from compiler.language.plugins import register_custom_action, registered_custom_actions
from flows.actions.base import ActionContext, ActionError, ActionType

# The registry itself is the language's (validate checks the names); this module loads and calls them.
__all__ = ["ACTION", "ENTRY_POINT_GROUP", "register_custom_action", "registered_custom_actions"]


def _resolve(name: str) -> Callable[..., Any]:
    if name in _REGISTERED:
        return _REGISTERED[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            return ep.load()
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


ACTION = ActionType.of(SPEC, execute)
