"""Parameters of ``execute_chain``: an agent chain, named (``configs/chains/``) or given inline."""

from __future__ import annotations

from pydantic import Field, model_validator

from compiler.language.model.actions.base import ActionParameters, ActionSpec
from compiler.language.model.base import StrictModel
from compiler.language.model.chains import AgentMode, ChainStep

__all__ = ["SPEC", "ExecuteChainParameters", "InlineChain"]


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


SPEC = ActionSpec("execute_chain", "Run an agent chain.", ExecuteChainParameters)
