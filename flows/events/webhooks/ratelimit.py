"""Rate limits: a token bucket per webhook (authenticated requests) and one per client for requests not yet authenticated."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ClientBuckets", "TokenBucket"]


class TokenBucket:
    """``requests`` per ``per_seconds``; one event loop uses it, so no lock is needed."""

    def __init__(self, requests: int, per_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(requests)
        self.rate = requests / per_seconds
        self._clock = clock
        self._tokens = self.capacity
        self._at = clock()

    def take(self) -> float:
        """0 when a request may pass (and counts it); else the seconds until one may."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def give_back(self) -> None:
        """Undo one ``take`` (never above the capacity)."""
        self._refill()
        self._tokens = min(self.capacity, self._tokens + 1)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now


class ClientBuckets:
    """A token bucket per client address for the requests that have not authenticated (yet).

    A request takes its client's token before its body is read and gives it back once it authenticated, so what
    strangers send never spends the webhook's own limit (the real sender is not locked out), and one client can
    neither make the receiver check more than ``requests`` failed authentications per ``per_seconds`` nor have more
    than ``requests`` unauthenticated requests open at once. At most ``max_clients`` addresses are remembered
    (bounded memory against a sender with many addresses): the least recently seen is forgotten first, and starts
    again with a full bucket, as it most likely had refilled to.
    """

    def __init__(self, requests: int, per_seconds: float, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.requests = requests
        self.per_seconds = per_seconds
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, client: str) -> float:
        """0 when this client's request may be checked (and counts it); else the seconds until one may."""
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._buckets.popitem(last=False)
            bucket = self._buckets[client] = TokenBucket(self.requests, self.per_seconds, self._clock)
        else:
            self._buckets.move_to_end(client)
        return bucket.take()

    def give_back(self, client: str) -> None:
        """The request authenticated: it does not count against its client."""
        bucket = self._buckets.get(client)
        if bucket is not None:
            bucket.give_back()

    def __len__(self) -> int:
        return len(self._buckets)
