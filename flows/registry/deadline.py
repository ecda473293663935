"""Deadlines of blocking registry calls: a try that its caller reported failed never commits later."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["Deadline"]


@dataclass
class Deadline:
    """When a blocking registry call must have committed or given up (``time.monotonic()`` seconds).

    A call with a deadline waits for a locked database at most until then, and checks it again just
    before committing: a try that its caller already reported failed (timed out) never commits later.
    ``cancel()`` (from the caller's thread, when its wait was cancelled) ends it at once.
    """

    at: float
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(seconds, 0.0))

    def remaining(self) -> float:
        return 0.0 if self._cancelled.is_set() else max(self.at - time.monotonic(), 0.0)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0
