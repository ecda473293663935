"""Action ``execute_chain``: run an agent chain as a Prefect subflow with one task per step."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from compiler.model.chains import AgentMode, ChainStep
from compiler.model.base import StrictModel
from flows.actions.base import ActionContext, ActionError, ActionParameters, ActionType

__all__ = ["ExecuteChainParameters", "InlineChain", "ACTION"]


class InlineChain(StrictModel):
    """A chain given in the action itself instead of ``configs/chains/``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$", description="Chain name used in events.")
    steps: list[ChainStep] = Field(min_length=1)


class ExecuteChainParameters(ActionParameters):
    chain_name: str | None = Field(default=None, description="Name of a chain in configs/chains/.")
    chain: str | InlineChain | None = Field(
        default=None, description="A chain name (same as chain_name) or an inline chain {name, steps}."
    )
    repository_root: str = Field(min_length=1, description="Repository folder; may use templates.")
    mode: AgentMode = Field(default="dry_run", description="dry_run changes nothing on disk; apply may write.")

    @model_validator(mode="after")
    def _exactly_one_chain(self) -> ExecuteChainParameters:
        if (self.chain_name is None) == (self.chain is None):
            raise ValueError("give exactly one of chain_name or chain")
        return self

    @property
    def referenced_chain(self) -> str | None:
        """The name of a chain file this action needs, if any."""
        return self.chain_name or (self.chain if isinstance(self.chain, str) else None)


async def execute(params: ExecuteChainParameters, ctx: ActionContext) -> dict[str, Any]:
    from flows.chains import ChainFailed, run_chain

    try:
        return await run_chain(params, ctx)
    except ChainFailed as exc:
        raise ActionError(str(exc)) from None


ACTION = ActionType("execute_chain", "Run an agent chain.", ExecuteChainParameters, execute)
