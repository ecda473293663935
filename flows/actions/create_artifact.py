"""Action ``create_artifact``: write a file to the artifact storage, mirror it as a Prefect artifact, register it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any

from compiler.language.model.actions.create_artifact import SPEC, CreateArtifactParameters
from flows.actions.artifact_storage import ArtifactStorageError, StoredArtifact, confine_artifact_path, store_artifact
from flows.actions.base import ActionContext, ActionError, ActionType

__all__ = ["ACTION", "confine_artifact_path"]

_MAX_PREVIEW = 20_000


def _serialise(content: Any, filename: str) -> bytes:
    if isinstance(content, str):
        return content.encode()
    return (json.dumps(content, indent=2, sort_keys=True, default=str) + "\n").encode()


async def execute(params: CreateArtifactParameters, ctx: ActionContext) -> dict[str, Any]:
    # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); test and dry-run load the action table without running actions
    from compiler.language.settings import get_settings

    settings = get_settings()
    content = params.content if params.content is not None else dict(ctx.outputs)
    data = _serialise(content, params.filename)
    try:
        stored = await store_artifact(settings.artifact_storage, settings.artifacts_dir, params.filename, data)
    except ArtifactStorageError as exc:
        raise ActionError(str(exc)) from None
    digest = hashlib.sha256(data).hexdigest()
    prefect_key = await _prefect_artifact(ctx, params, stored, data)
    if params.register_in_registry:
        # deferred: the registry costs ~200 ms (measured: SQLAlchemy); test and dry-run load the action table without running actions
        from flows.registry import RegistryStore

        store = RegistryStore.from_settings()
        # The location, not the name: with shared storage every machine can open it.
        await asyncio.to_thread(store.add_artifact, ctx.automation, params.artifact_type, stored.location, digest, len(data))
    result = {
        "artifact_type": params.artifact_type,
        "path": stored.location,
        "relative_path": stored.relative,
        "sha256": digest,
        "size_bytes": len(data),
        "prefect_artifact_key": prefect_key,
        "registered": params.register_in_registry,
    }
    ctx.publish("artifact_created", {"artifact_type": params.artifact_type}, result)
    return result


async def _prefect_artifact(ctx: ActionContext, params: CreateArtifactParameters, stored: StoredArtifact, data: bytes) -> str:
    """A markdown artifact in the Prefect UI, keyed per automation and artifact type so versions line up."""
    # deferred: Prefect costs ~1 s CPU to import (measured); test and dry-run load the action table without running actions
    from prefect.artifacts import acreate_markdown_artifact

    key = re.sub(r"[^a-z0-9-]+", "-", f"{ctx.automation}-{params.artifact_type}".lower()).strip("-")[:100]
    text = data.decode(errors="replace")
    preview = text[:_MAX_PREVIEW] + ("\n… (truncated)" if len(text) > _MAX_PREVIEW else "")
    fence = "```"
    markdown = f"**{params.artifact_type}** — `{stored.location}` ({len(data)} bytes)\n\n{fence}\n{preview}\n{fence}\n"
    await acreate_markdown_artifact(markdown=markdown, key=key, description=params.description or stored.relative)
    return key


ACTION = ActionType.of(SPEC, execute)
