"""The one try-wait-try-again loop: threads and event loops try, discard and wait alike (a table of rules and tries)."""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest

from flows.retry_loop import aretry, retry


def up_to_three_tries(result: str) -> Generator[float, str, str]:
    """Retry while the answer is "busy", at most twice more; the last answer is the outcome."""
    for _ in range(2):
        if result != "busy":
            break
        result = yield 0.0
    return result


@dataclass(frozen=True)
class Case:
    id: str
    answers: tuple[str, ...]
    outcome: str
    discarded: tuple[str, ...]


CASES = [
    Case("first-try", ("ok",), "ok", ()),
    Case("second-try", ("busy", "ok"), "ok", ("busy",)),
    Case("gives-up", ("busy", "busy", "busy", "never-asked"), "busy", ("busy", "busy")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_threads_and_event_loops_try_and_discard_alike(case: Case) -> None:
    answers: Iterator[str] = iter(case.answers)
    discarded: list[str] = []
    assert retry(lambda: next(answers), up_to_three_tries, discard=discarded.append) == case.outcome
    assert tuple(discarded) == case.discarded

    answers = iter(case.answers)
    discarded.clear()

    async def attempt() -> str:
        return next(answers)

    async def discard(result: str) -> None:
        discarded.append(result)

    assert asyncio.run(aretry(attempt, up_to_three_tries, discard=discard)) == case.outcome
    assert tuple(discarded) == case.discarded


def test_each_later_try_is_sent_into_the_rule() -> None:
    seen: list[int] = []

    def rule(result: int) -> Generator[float, int, int]:
        while result < 3:
            result = yield 0.0
            seen.append(result)
        return result

    counter = iter(range(1, 10))
    assert (retry(lambda: next(counter), rule), seen) == (3, [2, 3])
