"""Action ``create_artifact``: write a file under the artifacts folder, mirror it as a Prefect artifact, register it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import Field, field_validator

from flows.actions.base import ActionContext, ActionError, ActionParameters, ActionType

__all__ = ["CreateArtifactParameters", "ACTION", "confine_artifact_path"]

_MAX_PREVIEW = 20_000


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


@lru_cache(maxsize=1024)
def _check_filename(filename: str) -> None:
    """Cached: resolving costs a few file-system calls, and many automations share one filename template."""
    confine_artifact_path(Path("/"), filename)


def confine_artifact_path(root: Path, filename: str) -> Path:
    """``root/filename`` if it stays inside ``root``; absolute paths, ``..`` and drive tricks are refused."""
    if "\x00" in filename or "\\" in filename:
        raise ValueError(f"artifact filename '{filename}' may not contain NUL or backslashes")
    pure = PurePosixPath(filename)
    if pure.is_absolute() or ".." in pure.parts or filename.strip() in ("", "."):
        raise ValueError(f"artifact filename '{filename}' must be a relative path inside the artifacts folder (no '..')")
    target = (root / pure).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"artifact filename '{filename}' leaves the artifacts folder")
    return target


def _serialise(content: Any, filename: str) -> bytes:
    if isinstance(content, str):
        return content.encode()
    return (json.dumps(content, indent=2, sort_keys=True, default=str) + "\n").encode()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file in the same folder, then rename: readers never see a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def execute(params: CreateArtifactParameters, ctx: ActionContext) -> dict[str, Any]:
    from flows.settings import get_settings

    root = get_settings().artifacts_dir
    try:
        target = confine_artifact_path(root, params.filename)
    except ValueError as exc:
        raise ActionError(str(exc)) from None
    content = params.content if params.content is not None else dict(ctx.outputs)
    data = _serialise(content, params.filename)
    await asyncio.to_thread(_write_atomic, target, data)
    digest = hashlib.sha256(data).hexdigest()
    relative = target.relative_to(root.resolve()).as_posix()
    prefect_key = await _prefect_artifact(ctx, params, relative, data)
    if params.register_in_registry:
        from flows.registry import RegistryStore

        store = RegistryStore.from_settings()
        await asyncio.to_thread(store.add_artifact, ctx.automation, params.artifact_type, relative, digest, len(data))
    result = {
        "artifact_type": params.artifact_type,
        "path": str(target),
        "relative_path": relative,
        "sha256": digest,
        "size_bytes": len(data),
        "prefect_artifact_key": prefect_key,
        "registered": params.register_in_registry,
    }
    ctx.publish("artifact_created", {"artifact_type": params.artifact_type}, result)
    return result


async def _prefect_artifact(ctx: ActionContext, params: CreateArtifactParameters, relative: str, data: bytes) -> str:
    """A markdown artifact in the Prefect UI, keyed per automation and artifact type so versions line up."""
    from prefect.artifacts import acreate_markdown_artifact

    key = re.sub(r"[^a-z0-9-]+", "-", f"{ctx.automation}-{params.artifact_type}".lower()).strip("-")[:100]
    text = data.decode(errors="replace")
    preview = text[:_MAX_PREVIEW] + ("\n… (truncated)" if len(text) > _MAX_PREVIEW else "")
    fence = "```"
    markdown = f"**{params.artifact_type}** — `{relative}` ({len(data)} bytes)\n\n{fence}\n{preview}\n{fence}\n"
    await acreate_markdown_artifact(markdown=markdown, key=key, description=params.description or relative)
    return key


ACTION = ActionType("create_artifact", "Create an artifact file.", CreateArtifactParameters, execute)
