"""Parameters of ``execute_agent``: run one registered agent on a repository."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from compiler.language.model.actions.base import ActionParameters, ActionSpec
from compiler.language.model.chains import AgentMode

__all__ = ["SPEC", "ExecuteAgentParameters"]


class ExecuteAgentParameters(ActionParameters):
    agent_name: str = Field(min_length=1, max_length=100, description="Registered agent, e.g. PG_DISCOVERY.")
    repository_root: str = Field(min_length=1, description="Repository folder; may use templates.")
    mode: AgentMode = Field(default="dry_run", description="dry_run changes nothing on disk; apply may write.")
    options: dict[str, Any] = Field(default_factory=dict, description="Extra options passed to the agent.")


SPEC = ActionSpec("execute_agent", "Run a single agent.", ExecuteAgentParameters)
