"""The token bucket: bursts up to the limit, then one request per refill interval."""

from __future__ import annotations

from flows.events.webhooks.ratelimit import TokenBucket


class Clock:
    """A settable clock (time is an input here, not a collaborator)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_up_to_the_limit_passes_then_waits() -> None:
    clock = Clock()
    bucket = TokenBucket(3, 60, clock)
    assert [bucket.take() for _ in range(4)] == [0, 0, 0, 20.0]


def test_tokens_come_back_evenly() -> None:
    clock = Clock()
    bucket = TokenBucket(3, 60, clock)
    for _ in range(3):
        bucket.take()
    clock.now += 20
    assert (bucket.take(), bucket.take()) == (0, 20.0)


def test_an_idle_bucket_holds_no_more_than_the_limit() -> None:
    clock = Clock()
    bucket = TokenBucket(2, 1, clock)
    clock.now += 3600
    assert [bucket.take() == 0 for _ in range(3)] == [True, True, False]
