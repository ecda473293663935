"""Runtime that Prefect workers import: compiled automation flows, actions, agents and events.

The public API is ``__all__`` below, for users and plug-in authors (custom actions, agents, listeners);
names are imported on first use, so a worker importing one module does not load the rest. Every other
module is internal and may change; Prefect internals are used only in ``flows.prefect_api.seam``.
"""

from __future__ import annotations

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

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports("flows", _EXPORTS, globals())
