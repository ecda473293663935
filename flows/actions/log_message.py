"""Action ``log_message``: write a message to the Prefect run log at a level."""

from __future__ import annotations

from typing import Any

from compiler.language.model.actions.log_message import SPEC, LogMessageParameters
from flows.actions.base import LOG_LEVELS, ActionContext, ActionType

__all__ = ["ACTION"]


async def execute(params: LogMessageParameters, ctx: ActionContext) -> dict[str, Any]:
    ctx.logger.log(LOG_LEVELS[params.level], "%s", params.message)
    return {"message": params.message, "level": params.level}


# Writing to the run's own log changes nothing outside the run: no persisted result, no idempotency lock.
ACTION = ActionType.of(SPEC, execute, side_effects=False)
