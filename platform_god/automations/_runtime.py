"""Process plumbing of the Python API: which Prefect API it talks to, and what it stops when the process exits.

The exit hook is ``threading._register_atexit`` (CPython; tests/platform_god/automations/test_runtime.py
checks it): its callbacks run when the main thread ends, *before* the interpreter joins threads and
before ``concurrent.futures`` refuses new work, so in-flight flow runs can still finish; plain
``atexit`` runs too late. Prefect's event and log workers drain from the same kind of hook; they are
started first (flows/prefect_api/seam.py) so that theirs run after ours.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator

from compiler.commands.api_endpoint import configured_api_url

__all__ = ["api_url", "on_exit", "using_api"]

log = logging.getLogger("platform_god.automations")

_lock = threading.RLock()
_embedded_url: str | None = None
_exit_callbacks: list[Callable[[], None]] = []
_exit_hook_registered = False


def _prefect_api_url() -> str | None:
    """The API URL Prefect uses here now (environment, profile or a ``temporary_settings`` block)."""
    if "prefect" not in sys.modules:
        return configured_api_url()
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` does without it
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def api_url() -> str:
    """PREFECT_API_URL when one is configured; else the embedded local server (SQLite under ``var/prefect``,
    127.0.0.1 only), reused when it runs, otherwise started here and stopped when this process exits."""
    global _embedded_url
    configured = _prefect_api_url()
    if configured:
        return configured
    with _lock:
        if _embedded_url is None:
            # deferred: the local server module costs ~110 ms (measured); `import platform_god.automations` does without it
            from flows.local_server.server import SERVER_DIR, local_server_status, start_server, stop_local_server

            server = local_server_status(SERVER_DIR)
            if server is None:
                server = start_server(SERVER_DIR)
                home = SERVER_DIR.resolve()
                # Plain atexit: it runs after the threading exit hooks, when runs and Prefect's workers are done.

                atexit.register(stop_local_server, home)
                log.info("started the embedded Prefect server at %s (stopped when this process exits)", server.ui_url)
            _embedded_url = server.api_url
            # deferred: the Prefect seam imports Prefect, ~1 s CPU (measured); `import platform_god.automations` does without it
            from flows.prefect_api.seam import point_prefect_at

            point_prefect_at(_embedded_url)  # this process's Prefect, child processes, and Prefect imported later
        return _embedded_url


@contextlib.contextmanager
def using_api() -> Iterator[str]:
    """Run the block against ``api_url()``."""
    url = api_url()
    # deferred: Prefect costs ~1 s CPU to import (measured); `import platform_god.automations` does without it
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value() == url:
        yield url
    else:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url


def on_exit(callback: Callable[[], None]) -> None:
    """Call ``callback`` when the main thread ends, before threads are joined (last registered runs first).

    Call it inside ``using_api()`` so the Prefect workers it starts first use the same API.
    """
    global _exit_hook_registered
    with _lock:
        if not _exit_hook_registered:
            # deferred: the Prefect seam imports Prefect, ~1 s CPU (measured); `import platform_god.automations` does without it
            from flows.prefect_api.seam import start_event_and_log_workers

            start_event_and_log_workers()
            # Private but stable since 3.9: runs before threads are joined, unlike atexit (which runs after).
            threading._register_atexit(_run_exit_callbacks)  # type: ignore[attr-defined]
            _exit_hook_registered = True
        if callback not in _exit_callbacks:
            _exit_callbacks.append(callback)


def _run_exit_callbacks() -> None:
    with _lock:
        callbacks = list(reversed(_exit_callbacks))
        _exit_callbacks.clear()
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("stopping %r at exit failed", callback)
