"""Runtime that Prefect workers import: compiled automation flows, actions, agents and events.

The public API is ``__all__`` below, for users and plug-in authors (custom actions, agents, listeners);
names are imported on first use, so a worker importing one module does not load the rest. Every other
module is internal and may change; Prefect internals are used only in ``flows.prefect_api.seam``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compiler.language.lazy_exports import lazy_exports

# name → module that defines it
_EXPORTS: dict[str, str] = {
    # running automations
    "AutomationError": "flows.python_api",
    "AutomationRegistry": "flows.python_api",
    "AutomationRun": "flows.python_api",
    "aexecute_automation": "flows.python_api",
    "execute_automation": "flows.python_api",
    "get_automation_registry": "flows.python_api",
    "get_event_listener": "flows.python_api",
    "build_flow": "flows.engine.flow_factory",
    # events
    "EventListener": "flows.events.publish",
    "PublishedEvent": "flows.events.publish",
    "publish": "flows.events.publish",
    # custom actions and action types
    "ACTION_TYPES": "flows.actions",
    "ActionContext": "flows.actions.base",
    "ActionError": "flows.actions.base",
    "ActionType": "flows.actions.base",
    "register_custom_action": "flows.actions.custom",
    # agents
    "Agent": "flows.agents.base",
    "AgentError": "flows.agents.base",
    "AgentRequest": "flows.agents.base",
    "AgentResult": "flows.agents.base",
    "RepositoryAgent": "flows.agents.base",
    "available_agents": "flows.agents.base",
    "get_agent": "flows.agents.base",
    "register_agent": "flows.agents.base",
    "unregister_agent": "flows.agents.base",
    # settings
    "RuntimeSettings": "compiler.language.settings",
    "get_settings": "compiler.language.settings",
}

__all__ = [
    "ACTION_TYPES",
    "ActionContext",
    "ActionError",
    "ActionType",
    "Agent",
    "AgentError",
    "AgentRequest",
    "AgentResult",
    "AutomationError",
    "AutomationRegistry",
    "AutomationRun",
    "EventListener",
    "PublishedEvent",
    "RepositoryAgent",
    "RuntimeSettings",
    "aexecute_automation",
    "available_agents",
    "build_flow",
    "execute_automation",
    "get_agent",
    "get_automation_registry",
    "get_event_listener",
    "get_settings",
    "publish",
    "register_agent",
    "register_custom_action",
    "unregister_agent",
]

if TYPE_CHECKING:  # what the lazy exports resolve to, for type checkers and editors (tests/test_public_api.py keeps both in step)
    from compiler.language.settings import RuntimeSettings, get_settings
    from flows.actions import ACTION_TYPES
    from flows.actions.base import ActionContext, ActionError, ActionType
    from flows.actions.custom import register_custom_action
    from flows.agents.base import (
        Agent,
        AgentError,
        AgentRequest,
        AgentResult,
        RepositoryAgent,
        available_agents,
        get_agent,
        register_agent,
        unregister_agent,
    )
    from flows.engine.flow_factory import build_flow
    from flows.events.publish import EventListener, PublishedEvent, publish
    from flows.python_api import (
        AutomationError,
        AutomationRegistry,
        AutomationRun,
        aexecute_automation,
        execute_automation,
        get_automation_registry,
        get_event_listener,
    )


__getattr__, __dir__ = lazy_exports("flows", _EXPORTS, globals())
