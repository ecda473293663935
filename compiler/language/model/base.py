"""Base model for the language: strict (no coercion), closed (unknown keys are errors) and immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, JsonValue

__all__ = ["StrictModel", "JsonValue"]  # JsonValue: plain JSON data for free-form fields


class StrictModel(BaseModel):
    """``"3"`` is not 3 and ``true`` is not 1: what the file says is what it means."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
