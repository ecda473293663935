"""Serve the receiver with uvicorn: in the foreground (``python -m compiler webhooks``) or in a thread (``serve``)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType

import uvicorn

from compiler.language.model.webhooks import Webhook
from flows.events.webhooks.app import create_app
from flows.events.webhooks.settings import WebhookSettings

__all__ = ["BackgroundReceiver", "configure_logging", "run_foreground"]

_START_TIMEOUT_SECONDS = 30.0


def configure_logging() -> None:
    """Receiver lines (accepted / refused, with reasons) on stderr; uvicorn's own only when they matter."""
    log = logging.getLogger("platform_god.webhooks")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s webhooks %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def _config(webhooks: Sequence[Webhook], settings: WebhookSettings) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(webhooks, emit_timeout=settings.emit_timeout_seconds, body_timeout=settings.body_timeout_seconds),
        host=settings.host,
        port=settings.port,
        log_config=None,  # leave the process's logging (Prefect's, ours) as it is
        access_log=False,  # the app logs every request it refuses or accepts, with the reason
        server_header=False,
        lifespan="on",
        # Behind a reverse proxy on this machine, the client address in our log lines is the real sender's.
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=10,
    )


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_foreground(webhooks: Sequence[Webhook], settings: WebhookSettings) -> int:
    """Serve until SIGINT/SIGTERM (uvicorn finishes in-flight requests first): 0 after that graceful stop, 1 when it
    could not start."""
    server = uvicorn.Server(_config(webhooks, settings))

    def stop(signum: int, frame: FrameType | None) -> None:
        server.should_exit = True

    # uvicorn puts back the handlers it found and then raises the signal that stopped it again, so with Python's
    # defaults a graceful stop would end the process 143 (SIGTERM) or in a KeyboardInterrupt (SIGINT). These take
    # that second delivery (and a signal before uvicorn listens) as "stop", which it already is.
    previous = {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS}
    try:
        server.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if server.started else 1


class BackgroundReceiver:
    """The receiver in a thread of its own event loop, so it never takes the caller's signals or loop."""

    def __init__(self, webhooks: Sequence[Webhook], settings: WebhookSettings) -> None:
        self.settings = settings
        self._server = uvicorn.Server(_config(webhooks, settings))
        self._thread = threading.Thread(target=self._server.run, name="webhook-receiver", daemon=True)

    @property
    def address(self) -> str:
        """``host:port`` actually bound (useful with port 0)."""
        servers = getattr(self._server, "servers", None) or []
        for server in servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                return f"{host}:{port}"
        return f"{self.settings.host}:{self.settings.port}"

    def start(self) -> bool:
        """True once it listens; False when it could not start (uvicorn logged why)."""
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout: float = 15.0) -> None:
        """Take no new requests, finish the ones in flight, and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)
