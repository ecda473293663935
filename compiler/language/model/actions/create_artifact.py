"""Parameters of ``create_artifact``: a file written to the artifact storage, mirrored as a Prefect artifact."""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from pydantic import Field, field_validator

from compiler.language.model.actions.base import ActionParameters, ActionSpec

__all__ = ["SPEC", "CreateArtifactParameters", "relative_artifact_path"]


def relative_artifact_path(filename: str) -> PurePosixPath:
    """The name as a relative POSIX path; ValueError for absolute paths, ``..``, NUL and backslashes."""
    if "\x00" in filename or "\\" in filename:
        raise ValueError(f"artifact filename '{filename}' may not contain NUL or backslashes")
    pure = PurePosixPath(filename)
    if pure.is_absolute() or ".." in pure.parts or filename.strip() in ("", "."):
        raise ValueError(f"artifact filename '{filename}' must be a relative path inside the artifacts folder (no '..')")
    return pure


@lru_cache(maxsize=1024)
def _check_filename(filename: str) -> None:
    """Cached: many automations share one filename template."""
    relative_artifact_path(filename)


class CreateArtifactParameters(ActionParameters):
    artifact_type: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$", description="Kind of artifact, e.g. discovery_report.")
    filename: str = Field(min_length=1, max_length=255, description="Relative file name; may use templates; stays inside the artifacts folder.")
    content: Any = Field(default=None, description="Content; default: the outputs of the earlier actions as JSON.")
    description: str | None = Field(default=None, description="Shown with the Prefect artifact.")
    register_in_registry: bool = Field(default=False, description="Record the artifact in the registry.")

    @field_validator("filename")
    @classmethod
    def _relative_and_inside(cls, value: str) -> str:
        _check_filename(value)  # a syntactic check now; templates are checked again after rendering
        return value


SPEC = ActionSpec("create_artifact", "Create an artifact file.", CreateArtifactParameters)
