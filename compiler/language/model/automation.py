"""The automation: metadata, one trigger, ordered actions, template defaults and deployment policies."""

from __future__ import annotations

import re
from functools import lru_cache
from types import GenericAlias
from typing import Annotated, Any, Literal, Union

from pydantic import Field, create_model, field_validator

from compiler.language.model.actions import ACTION_SPECS, ActionBase, action_model
from compiler.language.model.base import JsonValue, StrictModel
from compiler.language.model.triggers import Trigger

__all__ = ["AUTOMATION_NAME_PATTERN", "Automation", "OverlapPolicy", "action_union", "automation_model"]

# Safe as a Prefect flow and deployment name, a file name and a concurrency-limit name.
AUTOMATION_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
OverlapPolicy = Literal["allow", "queue", "skip"]
_TAG = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$")]
_CONTEXT_KEY = r"^[A-Za-z_][A-Za-z0-9_-]*$"


@lru_cache(maxsize=1)
def action_union() -> Any:
    """A discriminated union (on ``type``) of one model per row of the action table."""
    models = tuple(action_model(s.name, s.parameters, s.description) for s in ACTION_SPECS.values())
    # Union[tuple] is the spelling of a union of types known only at run time (`|` needs them written out);
    # a type checker cannot see a type in it, so the value is typed Any.
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007  # type: ignore[valid-type]


class _AutomationFields(StrictModel):
    name: str = Field(
        pattern=AUTOMATION_NAME_PATTERN,
        description="Unique across all files; lowercase letters, digits, _ and -; names the flow and deployment.",
    )
    description: str = Field(default="", max_length=2000)
    version: str = Field(default="1.0", max_length=50, description="Your version of this automation (a string).")
    status: Literal["enabled", "disabled"] = Field(default="enabled", description="disabled: not deployed or served.")
    tags: list[_TAG] = Field(default_factory=list, description="Added to the Prefect flow runs and deployment.")
    context: dict[str, JsonValue] = Field(
        default_factory=dict, description="Defaults for template variables (inputs), e.g. repository_root."
    )
    overlap: OverlapPolicy = Field(
        default="allow",
        description="When a run starts while another is running: allow, queue (wait) or skip (cancel the new one).",
    )

    @field_validator("context")
    @classmethod
    def _context_keys_are_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.match(_CONTEXT_KEY, key):
                raise ValueError(f"context key '{key}' is not a template name (letters, digits, _ and -)")
        return value


@lru_cache(maxsize=1)
def automation_model() -> type[_AutomationFields]:
    """The full model, built once (on first use: creating it costs a few milliseconds)."""
    actions: Any = GenericAlias(list, (action_union(),))  # list[<the union built at run time>]: a value, not a type
    model: type[_AutomationFields] = create_model(
        "Automation",
        __base__=_AutomationFields,
        __doc__="An automation: one trigger and an ordered list of actions.",
        trigger=(Trigger, Field(description="What starts the automation.")),
        actions=(actions, Field(min_length=1, description="Run in order.")),
    )
    return model


class Automation(_AutomationFields):
    """Static view for type checkers; instances come from ``automation_model()``."""

    trigger: Trigger
    actions: list[ActionBase]
