"""The receiver's ASGI app (Starlette): one POST route per webhook; every refusal logged with its reason, nothing emitted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from compiler.language.model.webhooks import Webhook, secret_name
from flows.events.webhooks.auth import verify
from flows.events.webhooks.emitter import EventBatcher, Post, prefect_poster
from flows.events.webhooks.intake import Verdict, after_authentication, precheck
from flows.events.webhooks.keys import SecretCache
from flows.events.webhooks.ratelimit import ClientBuckets, TokenBucket
from flows.events.webhooks.replay import Seen, SeenSignatures

__all__ = ["create_app"]

log = logging.getLogger("platform_god.webhooks")


class _TooLarge(Exception):
    """The body grew past the webhook's limit while it was read."""


async def _read_body(request: Request, limit: int) -> bytes:
    """At most ``limit`` bytes: a declared larger length is refused before reading, a longer stream while reading."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLarge(len(body))
    return bytes(body)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _refuse(webhook: str, status: int, reason: str, request: Request, delivery: str | None = None,
            headers: dict[str, str] | None = None) -> Response:
    # Reason, client and delivery id only: never a header value, a secret or the body.
    log.warning("refused %s %d: %s (client %s, delivery %s)", webhook, status, reason, _client(request), delivery or "-")
    return JSONResponse({"accepted": False, "error": reason}, status_code=status, headers=headers)


class _Endpoint:
    """One webhook's route: client's unauthenticated limit → body (size, time) → secret → checks → authentication →
    the webhook's rate limit → event → not a replay → emit → 202.

    Only authenticated requests spend the webhook's rate limit: a stranger who can reach the URL cannot lock the real
    sender out. Until a request authenticated it counts against its client address (``ClientBuckets``).
    """

    def __init__(self, webhook: Webhook, keys: SecretCache, state: dict[str, Any], emit_timeout: float,
                 body_timeout: float) -> None:
        self.webhook = webhook
        limit = webhook.rate_limit
        self.bucket = TokenBucket(limit.requests, limit.per_seconds)
        self.strangers = ClientBuckets(limit.requests, limit.per_seconds)
        self.seen = SeenSignatures()
        self.keys = keys
        self.state = state
        self.emit_timeout = emit_timeout
        self.body_timeout = body_timeout

    def _delivery(self, headers: dict[str, str]) -> str | None:
        """The sender's delivery id for a refusal's log line (so it can be found in the sender's UI)."""
        header = self.webhook.event.id_header
        value = headers.get(header.lower()) if header else None
        if value is None:
            return None
        return value if len(value) <= 100 and value.isprintable() else "(malformed)"

    async def handle(self, request: Request) -> Response:
        name = self.webhook.name
        limit = self.webhook.rate_limit
        client = _client(request)
        wait = self.strangers.take(client)
        if wait:
            return _refuse(name, 429, f"too many unauthenticated requests from this client (at most {limit.requests} per "
                           f"{limit.per_seconds} s)", request, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await _read_body(request, self.webhook.max_body_bytes)
        except _TooLarge as exc:
            return _refuse(name, 413, f"body is over {self.webhook.max_body_bytes} bytes (at least {exc.args[0]})", request)
        except TimeoutError:
            return _refuse(name, 408, f"the body did not arrive within {self.body_timeout:g} s", request)
        reference = secret_name(self.webhook.secret_reference)
        try:
            key = await self.keys.get(reference)
        except Exception as exc:  # noqa: BLE001 - SecretNotFound or an unreachable API: the message names the secret, not its value
            return _refuse(name, 503, f"webhook not ready: {exc}", request)
        headers = dict(request.headers.items())  # Starlette gives lower-case names
        now = time.time()
        refused = precheck(self.webhook, headers, body)
        if refused is not None:
            return _refuse(name, refused.status, refused.reason, request, self._delivery(headers))
        problem = verify(self.webhook.auth, key, headers, body, now)
        if problem:
            return _refuse(name, 401, problem, request, self._delivery(headers))
        self.strangers.give_back(client)
        wait = self.bucket.take()
        if wait:
            return _refuse(name, 429, f"over the rate limit of {limit.requests} per {limit.per_seconds} s", request,
                           self._delivery(headers), headers={"Retry-After": str(max(1, math.ceil(wait)))})
        verdict: Verdict = after_authentication(self.webhook, headers, body, now)
        if verdict.status == 200:
            log.info("answered %s 200: %s (client %s)", name, verdict.reason, client)
            return JSONResponse({"accepted": False, "emitted": False, "detail": verdict.reason})
        if not verdict.accepted or verdict.event is None:
            return _refuse(name, verdict.status, verdict.reason, request, verdict.delivery_id or self._delivery(headers))
        signed = verdict.signed
        if signed is not None:
            seen = self.seen.claim(signed.key, signed.until, now)
            if seen is not None:
                return _refuse(name, 503 if seen is Seen.FULL else 409, _REPLAY_REASONS[seen], request, verdict.delivery_id)
        event = verdict.event
        batcher: EventBatcher = self.state["batcher"]
        try:
            await asyncio.wait_for(batcher.emit(event), self.emit_timeout)
        except Exception as exc:  # noqa: BLE001 - the sender should retry: say why it was not taken
            if signed is not None:
                self.seen.release(signed.key)
            detail = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            return _refuse(name, 503, f"Prefect did not take the event ({detail})", request, verdict.delivery_id)
        if signed is not None:
            self.seen.accepted(signed.key)
        log.info("accepted %s 202: event %s %s (client %s, delivery %s)", name, event["id"], event["event"],
                 client, verdict.delivery_id or "-")
        return JSONResponse({"accepted": True, "event_id": event["id"], "event": event["event"]}, status_code=202)


_REPLAY_REASONS = {
    Seen.ACCEPTED: "replay: a request with this signature was already accepted; nothing emitted again",
    Seen.IN_FLIGHT: "replay: a request with this signature is being accepted right now; nothing emitted again",
    Seen.FULL: "too many recent signed requests to remember (replay protection); retry later",
}


def create_app(webhooks: Sequence[Webhook], *, post: Post | None = None, keys: SecretCache | None = None,
               emit_timeout: float = 8.0, body_timeout: float = 10.0) -> Starlette:
    """The receiver for ``webhooks`` (enabled ones). Events go to the Prefect API this process is configured
    for, unless ``post`` is given; secrets come from env or Prefect Secret blocks unless ``keys`` is given."""
    keys = keys or SecretCache()
    state: dict[str, Any] = {}
    routes = [Route(w.route, _Endpoint(w, keys, state, emit_timeout, body_timeout).handle, methods=["POST"], name=w.name) for w in webhooks]
    known = {w.route: w.name for w in webhooks}

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "webhooks": sorted(known.values())})

    routes.append(Route("/healthz", health, methods=["GET"]))

    async def not_served(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        name = known.get(request.url.path, "-")
        reason = {404: f"no webhook at {request.url.path[:200]}", 405: f"method {request.method} not allowed; webhooks take POST"}
        return _refuse(name, status, reason.get(status, "refused"), request,
                       headers={"Allow": "POST"} if status == 405 else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            poster = post
            if poster is None:
                # deferred: Prefect costs ~1 s CPU to import (measured); a receiver given its own poster (tests, dry-run) never needs it
                from prefect.client.orchestration import get_client

                from flows.prefect_api import clients as api_clients

                api_clients.install()  # quick retries of a SQLite server's 503s, one TLS context (see flows/prefect_api/clients.py)
                poster = prefect_poster(await stack.enter_async_context(get_client()))
            batcher = EventBatcher(poster)
            batcher.start()
            stack.push_async_callback(batcher.stop)
            state["batcher"] = batcher
            await _check_secrets(webhooks, keys)
            yield

    return Starlette(routes=routes, exception_handlers={404: not_served, 405: not_served}, lifespan=lifespan)


async def _check_secrets(webhooks: Sequence[Webhook], keys: SecretCache) -> None:
    """Say at start which webhooks cannot authenticate yet (they answer 503 until their secret exists)."""
    for webhook in webhooks:
        try:
            await keys.get(secret_name(webhook.secret_reference))
        except Exception as exc:  # noqa: BLE001 - reported, the others still start
            log.error("webhook %s is not ready: %s; its requests are refused (503) until the secret exists", webhook.name, exc)
