"""JSON Schema of the automation format, for editors (VS Code's YAML extension) and the README reference."""

from __future__ import annotations

from typing import Any

from compiler.language.model.automation import automation_model

__all__ = ["SCHEMA_ID", "automation_json_schema"]

SCHEMA_ID = "https://platform-god.dev/schemas/automation.json"


def automation_json_schema() -> dict[str, Any]:
    schema = automation_model().model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
