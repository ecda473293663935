"""Parameters of ``update_registry``: create, update, upsert, merge or delete an entity in the registry."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from compiler.language.model.actions.base import ActionParameters, ActionSpec

__all__ = ["SPEC", "UpdateRegistryParameters"]


class UpdateRegistryParameters(ActionParameters):
    entity_type: str = Field(min_length=1, max_length=200, description="Kind of entity, e.g. service.")
    entity_id: str = Field(min_length=1, max_length=200, description="Id of the entity; may use templates.")
    operation: Literal["create", "update", "upsert", "delete", "merge"] = Field(
        default="upsert", description="create fails if it exists; update/merge/delete fail if it is missing."
    )
    data: dict[str, Any] | str | None = Field(
        default=None, description="Entity data (a mapping, or one template such as '{event.payload}')."
    )

    @model_validator(mode="after")
    def _data_fits_operation(self) -> UpdateRegistryParameters:
        if self.operation == "delete" and self.data is not None:
            raise ValueError("delete takes no data")
        if self.operation != "delete" and self.data is None:
            raise ValueError(f"{self.operation} needs data")
        return self


SPEC = ActionSpec(
    "update_registry", "Create, update, upsert, merge or delete a registry entry.", UpdateRegistryParameters
)
