"""Action ``execute_chain``: run an agent chain as a Prefect subflow with one task per step."""

from __future__ import annotations

from typing import Any

from compiler.language.model.actions.execute_chain import SPEC, ExecuteChainParameters
from flows.actions.base import ActionContext, ActionError, ActionType
from flows.agents.chains import ChainFailed, run_chain

__all__ = ["ACTION"]


async def execute(params: ExecuteChainParameters, ctx: ActionContext) -> dict[str, Any]:
    try:
        return await run_chain(params, ctx)
    except ChainFailed as exc:
        raise ActionError(str(exc)) from None


ACTION = ActionType.of(SPEC, execute)
