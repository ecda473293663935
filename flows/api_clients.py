"""One Prefect API client per command or session: flow runs and reads made inside ``shared_api_clients()`` reuse it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from prefect.context import AsyncClientContext, SyncClientContext

__all__ = ["shared_api_clients"]


@contextlib.asynccontextmanager
async def shared_api_clients() -> AsyncIterator[None]:
    """Prefect's engine opens its own API clients per flow run unless one is open in the context (each loads a
    TLS context from certifi and makes a CSRF round trip: ~50 ms, measured in P4's and P3's profiles)."""
    with SyncClientContext.get_or_create():
        async with AsyncClientContext.get_or_create():
            yield
