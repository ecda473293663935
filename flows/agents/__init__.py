"""Plug-in agents run by the ``execute_agent`` action: interface, registry and the built-in PG_* agents."""

from __future__ import annotations

from .base import (
    BUILTIN_AGENTS,
    ENTRY_POINT_GROUP,
    Agent,
    AgentError,
    AgentMode,
    AgentNotFound,
    AgentOutcome,
    AgentRequest,
    AgentResult,
    AgentStatus,
    RepositoryAgent,
    available_agents,
    get_agent,
    register_agent,
    resolve_repository_root,
    unregister_agent,
)
from .discovery import DiscoveryAgent
from .health import HealthAgent
from .security_scan import SecurityScanAgent

__all__ = [
    "BUILTIN_AGENTS",
    "ENTRY_POINT_GROUP",
    "Agent",
    "AgentError",
    "AgentMode",
    "AgentNotFound",
    "AgentOutcome",
    "AgentRequest",
    "AgentResult",
    "AgentStatus",
    "DiscoveryAgent",
    "HealthAgent",
    "RepositoryAgent",
    "SecurityScanAgent",
    "available_agents",
    "get_agent",
    "register_agent",
    "resolve_repository_root",
    "unregister_agent",
]
