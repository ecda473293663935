"""Action ``update_registry``: create, update, upsert, merge or delete an entity in the registry database."""

from __future__ import annotations

import asyncio
from typing import Any

from compiler.language.model.actions.update_registry import SPEC, UpdateRegistryParameters
from flows.actions.base import ActionContext, ActionError, ActionType

__all__ = ["ACTION"]


# ctx.deadline_seconds is the engine's safety net, 0.5 s after Prefect's timeout of the try; the write must be
# committed (or given up) before Prefect's timeout, with room for the rendering that preceded this call.
_BEFORE_PREFECT_TIMEOUT_S = 1.0


async def execute(params: UpdateRegistryParameters, ctx: ActionContext) -> dict[str, Any]:
    # deferred: the registry costs ~200 ms (measured: SQLAlchemy); test and dry-run load the action table without running actions
    from flows.registry import Deadline, RegistryBusy, RegistryError, RegistryStore

    if params.data is not None and not isinstance(params.data, dict):
        raise ActionError(f"data must render to a mapping, got {type(params.data).__name__}")
    store = RegistryStore.from_settings()
    deadline = Deadline.after(max(ctx.deadline_seconds - _BEFORE_PREFECT_TIMEOUT_S, 0.1))
    try:
        # The call blocks (SQLite), so it runs in a thread; the thread cannot be killed, so the store bounds
        # its waits by the deadline and checks it before committing: the work ends with the try.
        record = await asyncio.to_thread(
            store.apply, params.entity_type, params.entity_id, params.operation, params.data, deadline
        )
    except asyncio.CancelledError:
        deadline.cancel()  # the try timed out: the thread gives up and never commits
        raise
    except RegistryBusy as exc:
        raise ActionError(str(exc), retryable=True) from None
    except RegistryError as exc:
        raise ActionError(str(exc)) from None
    result = {
        "entity_type": params.entity_type,
        "entity_id": params.entity_id,
        "operation": params.operation,
        "version": record.version if record else None,
    }
    ctx.publish("registry_update", {"entity_type": params.entity_type, "entity_id": params.entity_id}, result)
    return result


ACTION = ActionType.of(SPEC, execute)
