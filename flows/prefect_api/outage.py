"""Riding out a Prefect API outage: a request that cannot reach the API is retried until it answers again, within a bound.

Prefect's client retries an unreachable API 5 times, 2 + 4 + … + 32 s ≈ 62 s, then raises. Measured on the HA
topology (issue 24): a flow-run process whose API server was down for 120 s had run its actions, then failed
setting its final state, exited, and lost its queued task-run events and logs; the run ended Crashed.
``PREFECT_CLIENT_MAX_RETRIES`` alone can lengthen that, but its waits double without a cap: 8 retries cover
510 s, and the last wait alone is 256 s, so a run finishes minutes after the API is back.

So, once this process has reached an API (a wrong URL still fails at once), a request to it that finds no API —
connection refused or timed out, or a load balancer's 502/503/504 — is sent again after 1, 2, 4, 8, then every
10 s until the API answers or ``AUTOMATIONS_API_OUTAGE_SECONDS`` (default 900) have passed since the outage
began; then the failure goes back to Prefect's own retries as it came. One outage clock per API address (scheme,
host, port): after the bound every request to it fails as Prefect's would until one gets through again, and an
address this process never reached fails at once even while another one is being ridden out (a long-lived process
— the Python API, a test session — that once reached one server and is then pointed at a wrong URL must not wait
15 minutes to say so).

``flows.prefect_api.retry`` puts this around the send that Prefect's retry loop calls (seam ``wrap_api_client_send``):
every Prefect client of the process rides it out — the engine's state changes, our summary artifact, the log
worker's batches.

Events take another path (a websocket): Prefect 3.9's events client keeps every event it could not deliver and
sends them again when it next connects — for the next event, or its 30 s checkpoint — but not when the process
exits. A run that ends right after the API came back sends no further event, so the task-run events of the
outage could be lost at exit; in the outages measured (150 s, 330 s) they arrived only because a heartbeat was
being sent when the API came back. When the API answers again, this process therefore emits
``platform-god.api.reconnected`` (payload: the outage's seconds; related to the flow run it happened in), which
makes the events client connect and send what it kept, before the exit.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from compiler.language.settings import get_settings
from flows.retry_loop import Rule, aretry, retry

__all__ = [
    "OUTAGE_STATUSES",
    "RECONNECTED_EVENT",
    "RETRY_DELAYS",
    "async_send",
    "not_ridden_out",
    "outage_bound_seconds",
    "sync_send",
]

# A load balancer's answers when no API server behind it answered (HAProxy: 503 without a healthy server,
# 502 when the one it chose died mid-request, 504 when it did not answer in time).
OUTAGE_STATUSES = frozenset({502, 503, 504})
# The request was never delivered: safe to send again whatever its method.
_UNREACHABLE = (httpx.ConnectError, httpx.ConnectTimeout)
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 10.0)  # the last one repeats
_JITTER = 0.2  # ± this share of each delay, so processes that lost the API together do not return in lockstep
RECONNECTED_EVENT = "platform-god.api.reconnected"
# Shorter troubles (a busy SQLite server's 503s beyond the quick retries) are retried without a warning or event:
# Prefect's events client gives up on an event only after ~10 reconnection attempts (~7 s), so none is held back.
_QUIET_SECONDS = 2.0

_logger = logging.getLogger(__name__)
# False inside ``not_ridden_out()``: those requests get Prefect's own retries only.
_RIDE_OUT: contextvars.ContextVar[bool] = contextvars.ContextVar("automations_ride_out_api_outages", default=True)
_lock = threading.Lock()


@dataclass
class _ApiState:
    """One API address this process got an answer from at least once."""

    outage_since: float | None = None  # monotonic time of the first failure of the current outage
    warned: bool = False  # the current outage was reported


_Address = tuple[str, str, int | None]
_apis: dict[_Address, _ApiState] = {}  # the addresses reached; only these are ridden out


def _address(request: Any) -> _Address:
    url = request.url
    return (url.scheme, url.host, url.port)


@contextlib.contextmanager
def not_ridden_out() -> Iterator[None]:
    """Requests made inside fail as Prefect's would: for callers with a deadline of their own and a sender that
    retries (the webhook receiver answers 503 after 8 s; a post still riding out an outage would deliver the
    event later, after the sender had sent it again)."""
    token = _RIDE_OUT.set(False)
    try:
        yield
    finally:
        _RIDE_OUT.reset(token)


def outage_bound_seconds() -> float:
    return float(get_settings().api_outage_seconds)


def _answered(response: Any) -> bool:
    """A response from the API itself (whatever its status), not a load balancer's placeholder for it."""
    if response.status_code not in OUTAGE_STATUSES:
        return True
    # Prefect Cloud's maintenance and rate-limit answers carry their own wait: Prefect's loop honours it.
    headers = response.headers
    return "Retry-After" in headers or headers.get("Prefect-Maintenance") == "true"


def _back(address: _Address) -> None:
    with _lock:
        state = _apis.get(address)
        if state is None:
            _apis[address] = _ApiState()
            return
        since, warned, state.outage_since, state.warned = state.outage_since, state.warned, None, False
    if since is not None and warned:
        seconds = time.monotonic() - since
        _logger.warning("Prefect API reachable again after %.0f s", seconds)
        _announce_reconnection(seconds)


def _announce_reconnection(outage_seconds: float) -> None:
    """Emit RECONNECTED_EVENT through Prefect's events worker (which then sends what it kept during the outage).

    From a thread of its own, in the caller's context: the caller may be one of Prefect's services on its
    event loop, and the context carries the flow run the event is related to."""
    # deferred: Prefect costs ~1 s CPU to import (measured); this module is installed before Prefect is imported
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return  # no API configured: emitting would start a temporary server of its own

    def emit() -> None:
        # deferred: Prefect costs ~1 s CPU to import (measured); this module is installed before Prefect is imported
        from prefect.events import emit_event

        host = socket.gethostname()
        emit_event(
            event=RECONNECTED_EVENT,
            resource={"prefect.resource.id": f"platform-god.process.{host}.{os.getpid()}", "platform-god.host": host},
            payload={"outage_seconds": round(outage_seconds, 1)},
        )

    threading.Thread(target=contextvars.copy_context().run, args=(emit,), name="api-reconnected", daemon=True).start()


def _next_delay(address: _Address, attempt: int, what: str) -> float | None:
    """Seconds to wait before sending again, or None: not an outage we ride out (never reached, or over the bound)."""
    if not _RIDE_OUT.get():
        return None
    now = time.monotonic()
    with _lock:
        state = _apis.get(address)
        if state is None:
            return None
        if state.outage_since is None:
            state.outage_since = now
        since = state.outage_since
        warn = not state.warned and now - since >= _QUIET_SECONDS
        state.warned = state.warned or warn
    bound = outage_bound_seconds()
    if warn:
        _logger.warning("Prefect API unreachable (%s): retrying for up to %.0f s (AUTOMATIONS_API_OUTAGE_SECONDS)", what, bound)
    left = since + bound - now
    if left <= 0:
        return None
    delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
    return min(left, delay * random.uniform(1 - _JITTER, 1 + _JITTER))


def _describe(failure: BaseException | Any) -> str:
    if isinstance(failure, BaseException):
        return f"{type(failure).__name__}: {failure}"
    return f"HTTP {failure.status_code}"


def _ride_out(address: _Address) -> Rule[Any]:
    """The retry rule of one request: a response from the API ends it; a refused connection or a load balancer's
    placeholder is tried again while ``_next_delay`` says so; the last outcome is the caller's."""

    def rule(outcome: Any) -> Generator[float, Any, Any]:
        attempt = 0
        while True:
            if not isinstance(outcome, BaseException) and _answered(outcome):
                _back(address)
                return outcome
            delay = _next_delay(address, attempt, _describe(outcome))
            if delay is None:
                return outcome
            attempt += 1
            outcome = yield delay

    return rule


def _result(outcome: Any) -> Any:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def async_send(send: Callable[..., Any]) -> Callable[..., Any]:
    async def send_riding_out_outages(request: Any, *args: Any, **kwargs: Any) -> Any:
        async def attempt() -> Any:
            try:
                return await send(request, *args, **kwargs)
            except _UNREACHABLE as exc:
                return exc  # the rule decides whether to raise it

        async def discard(outcome: Any) -> None:
            if not isinstance(outcome, BaseException):
                await outcome.aclose()

        return _result(await aretry(attempt, _ride_out(_address(request)), discard))

    return send_riding_out_outages


def sync_send(send: Callable[..., Any]) -> Callable[..., Any]:
    def send_riding_out_outages(request: Any, *args: Any, **kwargs: Any) -> Any:
        def attempt() -> Any:
            try:
                return send(request, *args, **kwargs)
            except _UNREACHABLE as exc:
                return exc  # the rule decides whether to raise it

        def discard(outcome: Any) -> None:
            if not isinstance(outcome, BaseException):
                outcome.close()

        return _result(retry(attempt, _ride_out(_address(request)), discard))

    return send_riding_out_outages
