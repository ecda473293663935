"""Signatures remembered within their tolerance: a second request with one is refused; a failed emit releases it."""

from __future__ import annotations

import pytest

from flows.events.webhooks.replay import Seen, SeenSignatures

UNTIL = 1_000.0


def test_a_new_signature_is_claimed() -> None:
    assert SeenSignatures().claim("k", UNTIL, now=900.0) is None


@pytest.mark.parametrize(
    ("settle", "expected"),
    [("accepted", Seen.ACCEPTED), ("in flight", Seen.IN_FLIGHT), ("released", None)],
    ids=["after-prefect-took-it", "while-it-is-emitted", "after-prefect-did-not-take-it"],
)
def test_the_same_signature_again(settle: str, expected: Seen | None) -> None:
    seen = SeenSignatures()
    seen.claim("k", UNTIL, now=900.0)
    if settle == "accepted":
        seen.accepted("k")
    elif settle == "released":
        seen.release("k")
    assert seen.claim("k", UNTIL, now=950.0) is expected


@pytest.mark.parametrize(("now", "expected"), [(UNTIL, Seen.ACCEPTED), (UNTIL + 1, None)], ids=["at-the-end", "after-it"])
def test_a_signature_is_remembered_until_its_timestamp_leaves_the_tolerance(now: float, expected: Seen | None) -> None:
    seen = SeenSignatures()
    seen.claim("k", UNTIL, now=900.0)
    seen.accepted("k")
    assert seen.claim("k", UNTIL, now=now) is expected


def test_expired_signatures_are_forgotten() -> None:
    seen = SeenSignatures()
    for n in range(50):
        seen.claim(f"k{n}", UNTIL + n, now=900.0)
    seen.claim("late", UNTIL + 100, now=UNTIL + 60)
    assert len(seen) == 1


def test_a_full_memory_refuses_rather_than_forgets() -> None:
    seen = SeenSignatures(capacity=2)
    seen.claim("a", UNTIL, now=900.0)
    seen.claim("b", UNTIL, now=900.0)
    assert (seen.claim("c", UNTIL, now=900.0), seen.claim("a", UNTIL, now=900.0)) == (Seen.FULL, Seen.IN_FLIGHT)


def test_a_released_and_claimed_again_signature_expires_once() -> None:
    seen = SeenSignatures()
    seen.claim("k", UNTIL, now=900.0)
    seen.release("k")
    seen.claim("k", UNTIL, now=910.0)
    seen.accepted("k")
    assert (seen.claim("k", UNTIL, now=990.0), seen.claim("k", UNTIL + 50, now=UNTIL + 1)) == (Seen.ACCEPTED, None)
