"""Parameters of ``log_message``: write a message to the Prefect run log at a level."""

from __future__ import annotations

from pydantic import Field

from compiler.language.model.actions.base import ActionParameters, ActionSpec, LogLevel

__all__ = ["SPEC", "LogMessageParameters"]


class LogMessageParameters(ActionParameters):
    message: str = Field(min_length=1, description="Text to log; may use templates.")
    level: LogLevel = Field(default="info", description="debug, info, warning, error or critical.")


SPEC = ActionSpec("log_message", "Log a message.", LogMessageParameters)
