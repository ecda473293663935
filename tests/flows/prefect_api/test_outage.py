"""flows/prefect_api/outage.py: Prefect's API clients in this process ride out an API that went away, within the bound.

Real HTTP servers on 127.0.0.1 stand for the API; Prefect's own retries are off, so only the ride-out can turn a
refused connection or a load balancer's 503s into the API's answer.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from compiler.language.settings import get_settings
from flows.prefect_api import outage as api_outage
from flows.prefect_api import retry as api_retry
from tests.flows.e2e_support import ScriptedServer
from tests.prefect_support import using_api


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Api:
    """An HTTP server on a fixed 127.0.0.1 port that can stop and start again there (an API server restarting)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.paths: list[str] = []
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> _Api:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.paths.append(self.path)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def _sync_get(base_url: str, path: str) -> int:
    from prefect.client.base import PrefectHttpxSyncClient

    with PrefectHttpxSyncClient(base_url=base_url) as client:
        return client.get(path).status_code


def _async_get(base_url: str, path: str) -> int:
    from prefect.client.base import PrefectHttpxAsyncClient

    async def get() -> int:
        async with PrefectHttpxAsyncClient(base_url=base_url) as client:
            return (await client.get(path)).status_code

    return asyncio.run(get())


CLIENTS: dict[str, Callable[[str, str], int]] = {"async": _async_get, "sync": _sync_get}


@pytest.fixture
def outage_bound(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], None]]:
    """A process that has not reached any API yet, Prefect's own retries off; the bound is set by the test."""
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    assert api_retry.install(), "the seam could not patch Prefect's API clients"
    monkeypatch.setattr(api_outage, "_apis", {})

    def bound(seconds: float) -> None:
        monkeypatch.setenv("AUTOMATIONS_API_OUTAGE_SECONDS", str(seconds))
        get_settings.cache_clear()

    bound(60)
    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}):
        yield bound
    get_settings.cache_clear()


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_request_sent_while_the_api_is_down_gets_its_answer_once_the_api_is_back(
    outage_bound: Callable[[float], None], client: str
) -> None:
    get = CLIENTS[client]
    api = _Api().start()
    try:
        assert get(api.url, "/health") == 200  # this process has reached the API
        api.stop()
        restart = threading.Timer(2.5, api.start)
        restart.start()
        try:
            status = get(api.url, "/flow_runs/during-the-outage")
        finally:
            restart.join()
    finally:
        api.stop()

    assert status == 200 and api.paths[-1] == "/api/flow_runs/during-the-outage"


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_an_api_never_reached_fails_at_once_as_prefect_does_for_a_wrong_url(
    outage_bound: Callable[[float], None], client: str
) -> None:
    with pytest.raises(httpx.ConnectError):
        CLIENTS[client](f"http://127.0.0.1:{_free_port()}/api", "/health")

    assert api_outage._apis == {}  # no outage was ridden out


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_an_api_never_reached_fails_at_once_while_another_one_was_reached(
    outage_bound: Callable[[float], None], client: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A long-lived process (the Python API, a test session) that reached one server, then pointed at a wrong URL."""
    get = CLIENTS[client]
    api = _Api().start()
    try:
        assert get(api.url, "/health") == 200
        outage_bound(3)  # ridden out, the wrong URL would be retried past the quiet 2 s and reported
        with pytest.raises(httpx.ConnectError):
            get(f"http://127.0.0.1:{_free_port()}/api", "/health")
    finally:
        api.stop()

    assert "retrying for up to" not in caplog.text


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_past_the_bound_the_failure_goes_back_to_prefect(outage_bound: Callable[[float], None], client: str) -> None:
    get = CLIENTS[client]
    api = _Api().start()
    assert get(api.url, "/health") == 200
    api.stop()
    outage_bound(1.5)

    with pytest.raises(httpx.ConnectError):
        get(api.url, "/health")


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_requests_made_inside_not_ridden_out_fail_as_prefects_would(outage_bound: Callable[[float], None], client: str) -> None:
    """The webhook receiver's posts: its request answers 503 after its own timeout and the sender retries."""
    get = CLIENTS[client]
    api = _Api().start()
    assert get(api.url, "/health") == 200
    api.stop()

    with api_outage.not_ridden_out(), pytest.raises(httpx.ConnectError):
        get(api.url, "/events")
    assert all(state.outage_since is None for state in api_outage._apis.values())


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_load_balancers_503s_beyond_the_quick_retries_are_ridden_out(
    outage_bound: Callable[[float], None], client: str
) -> None:
    """HAProxy answers 503 while no API server behind it is healthy; the quick 503 retries last ~1.5 s only."""
    get = CLIENTS[client]
    server = ScriptedServer().start()
    try:
        assert get(server.url, "/health") == 200
        no_server_for_a_while = "-".join(["503"] * (len(api_retry.QUICK_RETRY_DELAYS) + 4) + ["200"])
        status = get(server.url, f"/script/{no_server_for_a_while}/{client}")
    finally:
        server.stop()

    assert status == 200
    assert len(server.requests(f"/script/{no_server_for_a_while}")) == len(api_retry.QUICK_RETRY_DELAYS) + 5


def test_when_the_api_answers_again_the_process_says_so_in_an_event(outage_bound: Callable[[float], None], prefect_server: str) -> None:
    """The event also makes Prefect's events client connect again and send what it kept during the outage."""
    from prefect.events.worker import EventsWorker

    since = datetime.now(UTC).isoformat()
    api = _Api().start()
    try:
        assert _async_get(api.url, "/health") == 200
        api.stop()
        restart = threading.Timer(5.0, api.start)  # past the quiet first seconds of an outage
        restart.start()
        with using_api(prefect_server):
            try:
                assert _async_get(api.url, "/flow_runs/during-the-outage") == 200
            finally:
                restart.join()
            deadline = time.monotonic() + 30
            while not _reconnected_events(prefect_server, since) and time.monotonic() < deadline:
                EventsWorker.drain_all(timeout=5)
                time.sleep(0.5)
    finally:
        api.stop()

    [event] = _reconnected_events(prefect_server, since)
    assert event["resource"]["prefect.resource.id"] == f"platform-god.process.{socket.gethostname()}.{os.getpid()}"
    assert event["payload"]["outage_seconds"] >= 1


def _reconnected_events(api_url: str, since: str) -> list[dict[str, Any]]:
    process = f"platform-god.process.{socket.gethostname()}.{os.getpid()}"
    response = httpx.post(
        f"{api_url}/events/filter",
        json={"filter": {"occurred": {"since": since}, "event": {"name": [api_outage.RECONNECTED_EVENT]}, "any_resource": {"id": [process]}}},
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["events"])
