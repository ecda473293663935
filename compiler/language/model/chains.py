"""Agent chains: an ordered list of agent steps, defined in ``configs/chains/`` or inline in an action."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from compiler.language.model.base import StrictModel

__all__ = ["AgentMode", "ChainDefinition", "ChainStep"]

AgentMode = Literal["dry_run", "apply"]


class ChainStep(StrictModel):
    """One agent run inside a chain; runs as its own Prefect task."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Unique within the chain.")
    agent_name: str = Field(min_length=1, max_length=100, description="Registered agent, e.g. PG_DISCOVERY.")
    mode: AgentMode | None = Field(default=None, description="Overrides the chain's mode for this step.")
    options: dict[str, Any] = Field(default_factory=dict, description="Extra options passed to the agent.")
    continue_on_failure: bool = Field(default=False, description="Go on with later steps if this one fails.")


class ChainDefinition(StrictModel):
    """A named chain of agents."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$", description="Chain name, used by chain_name.")
    description: str = ""
    steps: list[ChainStep] = Field(min_length=1, description="Steps, run in order.")

    @model_validator(mode="after")
    def _unique_step_names(self) -> ChainDefinition:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(f"step name '{step.name}' is used twice; step names must be unique")
            seen.add(step.name)
        return self
