"""Accepted webhook events go to Prefect in batches; a request is answered 202 only once Prefect took its event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from flows.prefect_api.outage import not_ridden_out

__all__ = ["EventBatcher", "prefect_poster"]

Post = Callable[[list[dict[str, Any]]], Awaitable[None]]


class EventBatcher:
    """Queue events; one background task posts whatever is queued as one batch, then the next.

    A lone request is posted at once (no added wait); under load, requests that arrive while a post is
    in flight share the next one, so the receiver makes one API call per batch, not per request
    (benchmarks/p8_webhook.py: the accepted-requests-per-second figure).
    """

    def __init__(self, post: Post, max_batch: int = 500) -> None:
        self._post = post
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[dict[str, Any], asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-event-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def emit(self, event: dict[str, Any]) -> None:
        """Returns once Prefect accepted the batch holding ``event``; raises what the post raised otherwise."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put((event, done))
        await done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._post([event for event, _ in batch])
            except asyncio.CancelledError:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(RuntimeError("the receiver is shutting down"))
                raise
            except Exception as exc:  # noqa: BLE001 - every waiting request learns why
                if len(batch) > 1 and _refused_by_the_api(exc):
                    await self._one_by_one(batch)  # one event the API refuses must not fail its batchmates
                else:
                    _settle(batch, exc)
            else:
                _settle(batch, None)

    async def _one_by_one(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        for item in batch:
            try:
                await self._post([item[0]])
            except Exception as exc:  # noqa: BLE001 - that request learns why
                _settle([item], exc)
            else:
                _settle([item], None)


def _settle(batch: list[tuple[dict[str, Any], asyncio.Future[None]]], exc: BaseException | None) -> None:
    for _, done in batch:
        if not done.done():  # a request that timed out has cancelled its future
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)


def _refused_by_the_api(exc: BaseException) -> bool:
    """A 4xx answer: the content was refused (retrying the same batch would fail again)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500


def prefect_poster(client: Any) -> Post:
    """POST a batch to the Prefect API's ``/events`` (what non-Python senders use; 204 = accepted)."""

    async def post(events: list[dict[str, Any]]) -> None:
        with not_ridden_out():  # the request answers 503 after its emit timeout and its sender retries
            response = await client.request("POST", "/events", json=events)
        response.raise_for_status()

    return post
