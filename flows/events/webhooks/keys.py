"""Webhook secrets: resolved like action secrets (env, then Prefect Secret block), cached briefly, never logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from flows.actions.secrets import resolve_secret

__all__ = ["SecretCache"]

log = logging.getLogger("platform_god.webhooks")


class SecretCache:
    """Secret name → plaintext, re-resolved after ``ttl_seconds`` so a rotated Secret block takes effect.

    Resolving per request would put a Prefect API call on every request; a failed refresh keeps the
    last good value (a Prefect API hiccup must not lock every sender out).
    """

    def __init__(self, ttl_seconds: float = 60.0, resolve: Callable[[str], Awaitable[str]] = resolve_secret) -> None:
        self._ttl = ttl_seconds
        self._resolve = resolve
        self._values: dict[str, tuple[str, float]] = {}

    async def get(self, name: str) -> str:
        """The plaintext; raises (SecretNotFound, …) when it was never resolvable."""
        cached = self._values.get(name)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        try:
            value = await self._resolve(name)
        except Exception as exc:
            if cached is None:
                raise
            log.warning("secret %r could not be refreshed (%s); using the last resolved value", name, type(exc).__name__)
            self._values[name] = (cached[0], now)
            return cached[0]
        self._values[name] = (value, now)
        return value
