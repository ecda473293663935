"""Actions: the fields every action shares, the base of every parameters model, and one row of the action table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar

from pydantic import Field, create_model

from compiler.language.model.base import StrictModel

__all__ = [
    "ACTION_NAME_PATTERN",
    "ActionBase",
    "ActionParameters",
    "ActionSpec",
    "IdempotencyOptions",
    "LogLevel",
    "action_model",
]

ACTION_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ActionParameters(StrictModel):
    """Base of every action's parameters; strings may hold templates, rendered before execution."""


P = TypeVar("P", bound=ActionParameters)


@dataclass(frozen=True)
class ActionSpec(Generic[P]):
    """One row of the language's action table: the ``type`` name used in YAML, what it does, its parameters.

    The runtime's table (``flows.actions.ACTION_TYPES``) has one row per spec, keyed by the same name,
    adding the coroutine that executes it.
    """

    name: str
    description: str
    parameters: type[P]


class IdempotencyOptions(StrictModel):
    """How an action's idempotency key is formed."""

    enabled: bool = Field(
        default=True, description="Reuse the stored result when the same occurrence runs again."
    )
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Template that replaces the trigger occurrence in the key, e.g. '{event.payload.deploy_id}'.",
    )
    expire_seconds: Annotated[int, Field(gt=0, le=31_536_000)] | None = Field(
        default=None, description="Stored results older than this are not reused."
    )


class ActionBase(StrictModel):
    """Fields shared by every action; ``type`` and ``parameters`` are set per action type."""

    if TYPE_CHECKING:  # declared by each type's model (``action_model``): a literal ``type`` and its parameters model
        type: str
        parameters: ActionParameters

    name: str = Field(
        pattern=ACTION_NAME_PATTERN,
        description="Unique within the automation; lowercase letters, digits and _; names the Prefect task.",
    )
    continue_on_failure: bool = Field(default=False, description="Go on with later actions if this one fails.")
    retry_count: Annotated[int, Field(ge=0, le=10)] = Field(default=0, description="Retries after the first try.")
    retry_delay_seconds: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=0, description="Delay before each retry (the base delay when backoff is exponential)."
    )
    retry_backoff: Literal["fixed", "exponential"] = Field(
        default="fixed", description="exponential doubles the delay on each retry."
    )
    retry_jitter: Annotated[float, Field(ge=0, le=1)] = Field(
        default=0, description="Random extra delay, as a fraction of the delay (0–1)."
    )
    timeout_seconds: Annotated[float, Field(gt=0, le=86_400)] = Field(
        default=300, description="Each try is ended at this deadline and counts as timed out."
    )
    idempotency: IdempotencyOptions = Field(default_factory=IdempotencyOptions)


def action_model(type_name: str, parameters: type[StrictModel], description: str) -> type[ActionBase]:
    """The model of one action type: the shared fields plus ``type: <type_name>`` and its parameters."""
    tag: Any = Literal[type_name]  # a literal of a name known at run time: a value here, not a type
    model: type[ActionBase] = create_model(
        "".join(part.title() for part in type_name.split("_")) + "Action",
        __base__=ActionBase,
        __doc__=description,
        type=(tag, Field(description=description)),
        parameters=(parameters, Field(description=f"Parameters of {type_name}.")),
    )
    return model

