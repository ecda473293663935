"""Webhook secrets: cached, refreshed, and never one Prefect lookup per (unauthenticated) request.

The lookups are the real ones (environment, then the session's Prefect server for Secret blocks), counted.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from flows.actions.secrets import env_var_name, resolve_secret
from flows.events.webhooks.keys import SecretCache
from tests.prefect_support import using_api


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class CountedLookups:
    """``resolve_secret``, counting how often it is called."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, name: str) -> str:
        self.calls += 1
        return await resolve_secret(name)


@pytest.fixture
def prefect_api(prefect_server: str) -> Iterator[None]:
    # Prefect reads PREFECT_API_URL when it is imported: in a test process that imported it already, only its
    # settings context points the client at the session's server (else it starts a temporary server of its own).
    with using_api(prefect_server):
        yield


def missing_name() -> str:
    return f"webhook_keys_missing_{uuid.uuid4().hex[:8]}"


async def burst(cache: SecretCache, name: str, n: int = 20) -> list[object]:
    return await asyncio.gather(*(cache.get(name) for _ in range(n)), return_exceptions=True)


def test_concurrent_requests_for_a_missing_secret_share_one_lookup(prefect_api: None) -> None:
    lookups = CountedLookups()
    results = asyncio.run(burst(SecretCache(resolve=lookups, clock=Clock()), missing_name()))
    assert (lookups.calls, {type(r).__name__ for r in results}) == (1, {"SecretNotFound"})


def test_concurrent_requests_for_a_secret_share_one_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env_var_name("webhook_keys_present"), "s3cret")
    lookups = CountedLookups()
    results = asyncio.run(burst(SecretCache(resolve=lookups, clock=Clock()), "webhook_keys_present"))
    assert (lookups.calls, set(results)) == (1, {"s3cret"})


@pytest.mark.parametrize(("seconds_later", "calls"), [(1.0, 1), (6.0, 2)], ids=["within-retry", "after-retry"])
def test_a_missing_secret_is_looked_up_again_only_after_the_retry_interval(prefect_api: None, seconds_later: float,
                                                                           calls: int) -> None:
    lookups, clock, name = CountedLookups(), Clock(), missing_name()
    cache = SecretCache(resolve=lookups, retry_seconds=5.0, clock=clock)

    async def scenario() -> None:
        await burst(cache, name)
        clock.now += seconds_later
        await burst(cache, name)

    asyncio.run(scenario())
    assert lookups.calls == calls


def test_a_secret_set_later_is_found_after_the_retry_interval(prefect_api: None, monkeypatch: pytest.MonkeyPatch) -> None:
    lookups, clock, name = CountedLookups(), Clock(), missing_name()
    cache = SecretCache(resolve=lookups, retry_seconds=5.0, clock=clock)

    async def scenario() -> str:
        await burst(cache, name, 1)
        monkeypatch.setenv(env_var_name(name), "now-there")
        clock.now += 6
        return await cache.get(name)

    assert asyncio.run(scenario()) == "now-there"


@pytest.mark.parametrize(("seconds_later", "calls"), [(30.0, 1), (61.0, 2)], ids=["cached", "refreshed"])
def test_a_resolved_secret_is_cached_for_the_ttl(monkeypatch: pytest.MonkeyPatch, seconds_later: float, calls: int) -> None:
    monkeypatch.setenv(env_var_name("webhook_keys_ttl"), "v")
    lookups, clock = CountedLookups(), Clock()
    cache = SecretCache(ttl_seconds=60.0, resolve=lookups, clock=clock)

    async def scenario() -> None:
        await cache.get("webhook_keys_ttl")
        clock.now += seconds_later
        await burst(cache, "webhook_keys_ttl")

    asyncio.run(scenario())
    assert lookups.calls == calls


def test_a_failed_refresh_keeps_the_last_value(prefect_api: None, monkeypatch: pytest.MonkeyPatch) -> None:
    name = missing_name()
    monkeypatch.setenv(env_var_name(name), "v")
    clock = Clock()
    cache = SecretCache(ttl_seconds=60.0, clock=clock)

    async def scenario() -> str:
        await cache.get(name)
        monkeypatch.delenv(env_var_name(name))
        clock.now += 61
        return await cache.get(name)

    assert asyncio.run(scenario()) == "v"
