"""Runtime that Prefect workers import: compiled automation flows, actions, agents and events.

The public API is ``__all__`` below, for users and plug-in authors (custom actions, agents, listeners);
names are imported on first use, so a worker importing one module does not load the rest. Every other
module is internal and may change; Prefect internals are used only in ``flows.prefect_seam``.
"""

from __future__ import annotations

from compiler.lazy_exports import lazy_exports

# name → module that defines it
_EXPORTS: dict[str, str] = {
    # running automations
    "AutomationError": "flows.api",
    "AutomationRegistry": "flows.api",
    "AutomationRun": "flows.api",
    "aexecute_automation": "flows.api",
    "execute_automation": "flows.api",
    "get_automation_registry": "flows.api",
    "get_event_listener": "flows.api",
    "build_flow": "flows.flow_factory",
    # events
    "EventListener": "flows.events",
    "PublishedEvent": "flows.events",
    "publish": "flows.events",
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
    "RuntimeSettings": "flows.settings",
    "get_settings": "flows.settings",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("flows", _EXPORTS, globals())
