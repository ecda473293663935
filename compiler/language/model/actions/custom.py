"""Parameters of ``custom``: an action registered in code or by entry point; YAML names it, never an import path."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from compiler.language.model.actions.base import ActionParameters, ActionSpec

__all__ = ["SPEC", "CustomParameters"]


class CustomParameters(ActionParameters):
    action_name: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$", description="Name of a registered custom action."
    )
    arguments: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments; may use templates.")


SPEC = ActionSpec("custom", "Execute a custom registered action.", CustomParameters)
