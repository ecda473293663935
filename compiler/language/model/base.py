"""Base model for the language: strict (no coercion), closed (unknown keys are errors) and immutable; checked field types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, JsonValue

from compiler.language.urls import url_problem

__all__ = ["JsonValue", "RequestableUrl", "StrictModel", "checked"]  # JsonValue: plain JSON data for free-form fields

V = TypeVar("V")


class StrictModel(BaseModel):
    """``"3"`` is not 3 and ``true`` is not 1: what the file says is what it means."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def checked(problem: Callable[[V], str | None]) -> AfterValidator:
    """A field validator from a function that says why a value is refused (None: accepted); for ``Annotated``."""

    def validate(value: V) -> V:
        reason = problem(value)
        if reason:
            raise ValueError(reason)
        return value

    return AfterValidator(validate)


# A URL an HTTP action or source may request: http(s), with a host (templates are judged up to the first placeholder).
RequestableUrl = Annotated[str, checked(url_problem)]
