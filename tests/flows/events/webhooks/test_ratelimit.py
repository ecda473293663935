"""The token bucket (bursts up to the limit, then one request per refill interval) and the per-client buckets of requests not yet authenticated."""

from __future__ import annotations

from flows.events.webhooks.ratelimit import ClientBuckets, TokenBucket


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


def test_a_bucket_given_back_a_token_lets_one_more_pass() -> None:
    bucket = TokenBucket(2, 60, Clock())
    bucket.take()
    bucket.take()
    bucket.give_back()
    assert (bucket.take(), bucket.take()) == (0, 30.0)


def test_giving_back_never_exceeds_the_limit() -> None:
    bucket = TokenBucket(2, 60, Clock())
    bucket.give_back()
    assert [bucket.take() == 0 for _ in range(3)] == [True, True, False]


def test_each_client_has_its_own_bucket() -> None:
    clients = ClientBuckets(2, 60, clock=Clock())
    assert [clients.take("stranger") for _ in range(3)] + [clients.take("sender")] == [0, 0, 30.0, 0]


def test_requests_given_back_do_not_count_against_their_client() -> None:
    clients = ClientBuckets(2, 60, clock=Clock())
    for _ in range(5):
        assert clients.take("sender") == 0
        clients.give_back("sender")
    assert [clients.take("sender") for _ in range(3)] == [0, 0, 30.0]


def test_open_requests_count_until_given_back() -> None:
    """A client's requests still being read or checked hold its tokens: it cannot open more than the limit at once."""
    clients = ClientBuckets(2, 60, clock=Clock())
    assert [clients.take("slow") for _ in range(3)] == [0, 0, 30.0]


def test_clients_remembered_are_bounded_least_recently_seen_forgotten_first() -> None:
    clients = ClientBuckets(1, 60, max_clients=2, clock=Clock())
    clients.take("a")
    clients.take("b")
    clients.take("a")  # a is seen again: b is now the least recent
    clients.take("c")
    assert (len(clients), clients.take("a"), clients.take("b")) == (2, 60.0, 0)
