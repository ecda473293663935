"""Try, wait, try again, written once for threads and for event loops: the rule (when to stop, how long to wait) is a
generator each caller writes once; ``retry`` and ``aretry`` do the trying, discarding and sleeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TypeVar

__all__ = ["Rule", "aretry", "retry"]

T = TypeVar("T")

# Called with the first try's result; yields the seconds to wait before each next try, is sent that try's result,
# and returns the outcome.
Rule = Callable[[T], Generator[float, T, T]]


def retry(attempt: Callable[[], T], rule: Rule[T], discard: Callable[[T], object] | None = None) -> T:
    """Try, then for as long as ``rule`` yields: ``discard`` the last result, sleep, try again; ``rule``'s outcome."""
    result = attempt()
    steps = rule(result)
    try:
        delay = next(steps)
        while True:
            if discard is not None:
                discard(result)
            time.sleep(delay)
            result = attempt()
            delay = steps.send(result)
    except StopIteration as done:
        outcome: T = done.value
        return outcome


async def aretry(attempt: Callable[[], Awaitable[T]], rule: Rule[T], discard: Callable[[T], Awaitable[object]] | None = None) -> T:
    """``retry`` in an event loop: the tries and discards are awaited, the waits leave the loop to other tasks."""
    result = await attempt()
    steps = rule(result)
    try:
        delay = next(steps)
        while True:
            if discard is not None:
                await discard(result)
            await asyncio.sleep(delay)
            result = await attempt()
            delay = steps.send(result)
    except StopIteration as done:
        outcome: T = done.value
        return outcome
