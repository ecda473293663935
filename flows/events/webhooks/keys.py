"""Webhook secrets: resolved like action secrets (env, then Prefect Secret block), cached briefly, never logged."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from flows.actions.secrets import resolve_secret

__all__ = ["SecretCache"]

log = logging.getLogger("platform_god.webhooks")


class SecretCache:
    """Secret name → plaintext, re-resolved after ``ttl_seconds`` so a rotated Secret block takes effect.

    Resolving per request would put a Prefect API call on every request; a failed refresh keeps the
    last good value (a Prefect API hiccup must not lock every sender out). Requests are not authenticated
    before the secret is known, so what anyone sends must not turn into Prefect API calls either: concurrent
    requests share one resolution, and a secret that cannot be resolved is tried again after
    ``retry_seconds``, not per request.
    """

    def __init__(self, ttl_seconds: float = 60.0, resolve: Callable[[str], Awaitable[str]] = resolve_secret,
                 retry_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._retry = retry_seconds
        self._resolve = resolve
        self._clock = clock
        self._values: dict[str, tuple[str, float]] = {}
        self._failures: dict[str, tuple[Exception, float]] = {}
        self._resolving: dict[str, asyncio.Future[str]] = {}

    async def get(self, name: str) -> str:
        """The plaintext; raises (SecretNotFound, …) when it was never resolvable."""
        cached = self._values.get(name)
        now = self._clock()
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        failed = self._failures.get(name)
        if cached is None and failed is not None and now - failed[1] < self._retry:
            raise failed[0].with_traceback(None)  # the same object each time: without this its traceback grows per raise
        pending = self._resolving.get(name)
        if pending is None:
            pending = self._resolving[name] = asyncio.ensure_future(self._refresh(name))
            pending.add_done_callback(lambda done: self._settled(name, done))
        # shield: a request that gives up (its client went away) must not cancel the others' resolution.
        return await asyncio.shield(pending)

    def _settled(self, name: str, done: asyncio.Future[str]) -> None:
        self._resolving.pop(name, None)
        if not done.cancelled():
            done.exception()  # retrieved here too: every request that awaited it may have gone away

    async def _refresh(self, name: str) -> str:
        cached = self._values.get(name)
        try:
            value = await self._resolve(name)
        except Exception as exc:
            now = self._clock()
            if cached is None:
                self._failures[name] = (exc, now)
                raise
            log.warning("secret %r could not be refreshed (%s); using the last resolved value", name, type(exc).__name__)
            self._values[name] = (cached[0], now)
            return cached[0]
        self._failures.pop(name, None)
        self._values[name] = (value, self._clock())
        return value
