"""Every item of a Prefect API read, page by page: the API answers at most ``PAGE_LIMIT`` items per request."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["PAGE_LIMIT", "read_all"]

PAGE_LIMIT = 200  # the API's cap for flows, deployments and flow runs


async def read_all(read: Callable[..., Awaitable[list[Any]]], **kwargs: Any) -> list[Any]:
    """``read(limit=…, offset=…, **kwargs)`` called until a page comes back short; every item, in order."""
    found: list[Any] = []
    while True:
        page = await read(limit=PAGE_LIMIT, offset=len(found), **kwargs)
        found.extend(page)
        if len(page) < PAGE_LIMIT:
            return found
