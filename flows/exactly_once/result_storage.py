"""Where action results and completed-occurrence records live: the shared storage block (loaded once per process) or this machine's folder."""

from __future__ import annotations

from typing import Any

from prefect.blocks.core import Block

from compiler.language.settings import get_settings
from flows.exactly_once.idempotency import result_storage

__all__ = ["occurrence_storage", "shared_storage_block"]

_LOADED: dict[str, Any] = {}  # block slug → the block, loaded from the API once per process


async def shared_storage_block() -> Any | None:
    """The block named by ``AUTOMATIONS_RESULT_STORAGE``, loaded once per process; None when it is not set.

    Given by its slug, Prefect loads the block from the API again for every flow run and every task run:
    measured in one worker run of benchmark P7's 3-action automation, 8 reads of the block document
    (0.93 s of requests). A process that runs for a long time (serve, a worker's flow run) keeps the block it
    loaded first: after editing the block document, restart serve.
    """
    slug = get_settings().result_storage
    if not slug:
        return None
    block = _LOADED.get(slug)
    if block is None:
        block = _LOADED[slug] = await Block.aload(slug)
    return block


async def occurrence_storage() -> Any:
    """Where completed-occurrence records are kept: the shared block when configured, else the results folder."""
    block = await shared_storage_block()
    if block is not None:
        return block
    return result_storage(get_settings().results_dir)
