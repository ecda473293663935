"""Quick retries when a SQLite-backed Prefect server answers 503 ("database is locked").

A Prefect server on SQLite answers 503 when a write meets another one (measured: creating a flow run
right after the previous run's events are written, claiming a run, posting logs); the contention lasts
milliseconds. Prefect's client then waits ``2 ** attempt`` seconds (2 s, 4 s, ...), which made most
back-to-back runs ~2 s slower and put a 2 s step into event-to-action latency. This wraps the send
that Prefect's retry loop calls so a bare 503 is first retried a few times within ~1.5 s; if it
persists, the response goes back to Prefect's own retry loop unchanged. A 503 carrying ``Retry-After``
or ``Prefect-Maintenance`` (Prefect Cloud maintenance, rate limits) is handed over at once.

Around these quick retries, ``flows.prefect_api.outage`` rides out an API that cannot be reached at all (an API server
or the load balancer down) for up to ``AUTOMATIONS_API_OUTAGE_SECONDS``: each of its attempts is one quick-retry
sequence.

``install()`` is idempotent and is called by everything that runs automation flows (flow factory,
serve executor). The hook into Prefect's client is in ``flows.prefect_api.seam`` (``wrap_api_client_send``);
if Prefect's client no longer has it, nothing is patched.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from flows.prefect_api import outage as api_outage
from flows.prefect_api.seam import wrap_api_client_send
from flows.retry_loop import aretry, retry

__all__ = ["QUICK_RETRY_DELAYS", "install"]

# ~1.5 s in all: measured contention on a busy 2-core machine lasted up to ~1 s.
QUICK_RETRY_DELAYS: tuple[float, ...] = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4)
_INSTALLED = False


def _quick_retry(response: Any) -> bool:
    if response.status_code != 503:
        return False
    headers = response.headers
    return "Retry-After" not in headers and headers.get("Prefect-Maintenance") != "true"


def _quick_retries(response: Any) -> Generator[float, Any, Any]:
    """The delay before each quick retry while the answer is a bare 503; the response to hand back."""
    for delay in QUICK_RETRY_DELAYS:
        if not _quick_retry(response):
            break
        response = yield delay
    return response


def _async_send(send: Callable[..., Any]) -> Callable[..., Any]:
    async def send_with_quick_retries(request: Any, *args: Any, **kwargs: Any) -> Any:
        return await aretry(lambda: send(request, *args, **kwargs), _quick_retries, discard=lambda response: response.aclose())

    return send_with_quick_retries


def _sync_send(send: Callable[..., Any]) -> Callable[..., Any]:
    def send_with_quick_retries(request: Any, *args: Any, **kwargs: Any) -> Any:
        return retry(lambda: send(request, *args, **kwargs), _quick_retries, discard=lambda response: response.close())

    return send_with_quick_retries


def install() -> bool:
    """Patch Prefect's async and sync API clients once per process (quick 503 retries inside the outage
    ride-out); False when the hook is missing."""
    global _INSTALLED
    if _INSTALLED:
        return True

    _INSTALLED = wrap_api_client_send(
        lambda send: api_outage.async_send(_async_send(send)),
        lambda send: api_outage.sync_send(_sync_send(send)),
    )
    return _INSTALLED
