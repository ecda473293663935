"""The event batcher: one post per batch of waiting requests, and one refused event never fails its batchmates."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from flows.events.webhooks.emitter import EventBatcher


class Api:
    """Stands in for the Prefect API's POST /events: records batches, refuses events marked bad (422)."""

    def __init__(self, delay: float = 0.0, fail: Exception | None = None) -> None:
        self.batches: list[list[str]] = []
        self.delay = delay
        self.fail = fail

    async def post(self, events: list[dict[str, Any]]) -> None:
        self.batches.append([event["id"] for event in events])
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        if any(event.get("bad") for event in events):
            request = httpx.Request("POST", "http://api/events")
            raise httpx.HTTPStatusError("422", request=request, response=httpx.Response(422, request=request))


async def emit_all(api: Api, events: list[dict[str, Any]]) -> list[BaseException | None]:
    batcher = EventBatcher(api.post)
    batcher.start()
    try:
        return await asyncio.gather(*(batcher.emit(event) for event in events), return_exceptions=True)
    finally:
        await batcher.stop()


def test_requests_arriving_during_a_post_share_the_next_one() -> None:
    async def scenario(api: Api) -> list[BaseException | None]:
        batcher = EventBatcher(api.post)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.emit({"id": "0"}))
            await asyncio.sleep(0.01)  # the first post is in flight now
            later = [batcher.emit({"id": str(i)}) for i in range(1, 10)]
            return await asyncio.gather(first, *later, return_exceptions=True)
        finally:
            await batcher.stop()

    api = Api(delay=0.05)
    assert asyncio.run(scenario(api)) == [None] * 10
    assert api.batches == [["0"], [str(i) for i in range(1, 10)]]


def test_an_event_the_api_refuses_fails_alone() -> None:
    api = Api(delay=0.05)
    results = asyncio.run(emit_all(api, [{"id": "0"}, {"id": "1"}, {"id": "2", "bad": True}, {"id": "3"}]))
    assert [type(r).__name__ if r else None for r in results] == [None, None, "HTTPStatusError", None]


def test_an_unreachable_api_fails_every_waiting_request() -> None:
    api = Api(fail=httpx.ConnectError("refused"))
    results = asyncio.run(emit_all(api, [{"id": "0"}, {"id": "1"}]))
    assert [type(r).__name__ for r in results] == ["ConnectError", "ConnectError"]
