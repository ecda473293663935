"""Plug-in names the language checks: entry-point groups and in-code registrations of agents and custom actions.

The language only needs to know which names exist (``validate`` warns about an agent or custom action
that is not installed here); loading and running them is the runtime's (``flows.agents``,
``flows.actions.custom``), which keeps its registrations in the tables defined here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

__all__ = [
    "ACTION_ENTRY_POINT_GROUP",
    "AGENT_ENTRY_POINT_GROUP",
    "BUILTIN_AGENTS",
    "agent_names",
    "register_custom_action",
    "registered_custom_actions",
]

AGENT_ENTRY_POINT_GROUP = "platform_god.agents"
ACTION_ENTRY_POINT_GROUP = "platform_god.actions"

# Built-ins are known by import path, not through entry points, so they work from a plain checkout
# (the package is only installed editable later) and cannot be shadowed by a third-party distribution.
BUILTIN_AGENTS: Mapping[str, str] = {
    "PG_DISCOVERY": "flows.agents.discovery:DiscoveryAgent",
    "PG_SECURITY_SCAN": "flows.agents.security_scan:SecurityScanAgent",
    "PG_HEALTH": "flows.agents.health:HealthAgent",
}

# In-code registrations (name → factory or function); the runtime's register_agent and
# register_custom_action write here, under LOCK (agents may be resolved from several threads at once).
LOCK = threading.Lock()
AGENT_FACTORIES: dict[str, Callable[..., Any]] = {}
CUSTOM_ACTIONS: dict[str, Callable[..., Any]] = {}


def register_custom_action(name: str, func: Callable[..., Any] | None = None) -> Any:
    """Register ``func(arguments: dict, context: ActionContext)`` (sync or async); usable as a decorator."""

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        CUSTOM_ACTIONS[name] = f
        return f

    return decorate(func) if func is not None else decorate


def registered_custom_actions() -> dict[str, Callable[..., Any] | None]:
    """Names known now: in-code registrations, plus entry points (loaded on use, so None here)."""
    names: dict[str, Callable[..., Any] | None] = {ep.name: None for ep in entry_points(group=ACTION_ENTRY_POINT_GROUP)}
    names.update(CUSTOM_ACTIONS)
    return names


def agent_names() -> tuple[str, ...]:
    """Every agent name installed here: built-ins, in-code registrations and entry points (not loaded)."""
    with LOCK:
        registered = set(AGENT_FACTORIES)
    found = {*BUILTIN_AGENTS, *registered, *(ep.name for ep in entry_points(group=AGENT_ENTRY_POINT_GROUP))}
    return tuple(sorted(found))
