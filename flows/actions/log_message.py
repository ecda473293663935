"""Action ``log_message``: write a message to the Prefect run log at a level."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from flows.actions.base import LOG_LEVELS, ActionContext, ActionParameters, ActionType, LogLevel

__all__ = ["LogMessageParameters", "ACTION"]


class LogMessageParameters(ActionParameters):
    message: str = Field(min_length=1, description="Text to log; may use templates.")
    level: LogLevel = Field(default="info", description="debug, info, warning, error or critical.")


async def execute(params: LogMessageParameters, ctx: ActionContext) -> dict[str, Any]:
    ctx.logger.log(LOG_LEVELS[params.level], "%s", params.message)
    return {"message": params.message, "level": params.level}


# Writing to the run's own log changes nothing outside the run: no persisted result, no idempotency lock.
ACTION = ActionType("log_message", "Log a message.", LogMessageParameters, execute, side_effects=False)
