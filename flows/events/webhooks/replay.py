"""Timestamped signatures this receiver took, remembered while their timestamp is within the tolerance: a replay runs nothing."""

from __future__ import annotations

import heapq
from enum import Enum

__all__ = ["Seen", "SeenSignatures"]


class Seen(Enum):
    """Why a signature cannot be claimed."""

    ACCEPTED = "accepted"  # Prefect took its event
    IN_FLIGHT = "in flight"  # a request with it is being emitted right now
    FULL = "full"  # the memory is full: refuse rather than forget one (which would let its replay through)


class SeenSignatures:
    """Signature keys → until when they matter (their timestamp + tolerance; after it the timestamp check refuses them).

    A key is claimed before its event is emitted, kept once Prefect took it, and released when Prefect did not (the
    sender may send the same request again). Only authenticated requests get here, so the webhook's rate limit
    bounds how fast it fills; ``capacity`` bounds its memory whatever the limits are. One event loop uses it.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._keys: dict[str, tuple[float, bool]] = {}  # key → (until, accepted)
        self._expiries: list[tuple[float, str]] = []  # a heap; entries of released keys are dropped when they expire

    def claim(self, key: str, until: float, now: float) -> Seen | None:
        """None when ``key`` is new (it is now in flight); else why it is not."""
        self._forget_expired(now)
        known = self._keys.get(key)
        if known is not None:
            return Seen.ACCEPTED if known[1] else Seen.IN_FLIGHT
        if len(self._expiries) >= self._capacity:
            return Seen.FULL
        self._keys[key] = (until, False)
        heapq.heappush(self._expiries, (until, key))
        return None

    def accepted(self, key: str) -> None:
        """Prefect took the event: a request with this signature never runs again while it is within the tolerance."""
        known = self._keys.get(key)
        if known is not None:
            self._keys[key] = (known[0], True)

    def release(self, key: str) -> None:
        """Prefect did not take the event: the sender may send this request again."""
        self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)

    def _forget_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] < now:
            until, key = heapq.heappop(self._expiries)
            known = self._keys.get(key)
            if known is not None and known[0] == until:
                del self._keys[key]
