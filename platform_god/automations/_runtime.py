"""Process plumbing of the Python API: what it stops when the process exits (the API it talks to is chosen by
``flows.local_server.api_choice``, as for the CLI and ``flows.execute_automation``).

The exit hook is ``threading._register_atexit`` (CPython; tests/platform_god/automations/test_runtime.py
checks it): its callbacks run when the main thread ends, *before* the interpreter joins threads and
before ``concurrent.futures`` refuses new work, so in-flight flow runs can still finish; plain
``atexit`` runs too late. Prefect's event and log workers drain from the same kind of hook; they are
started first (flows/prefect_api/seam.py) so that theirs run after ours.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flows.local_server.api_choice import api_url, using_api

__all__ = ["api_url", "on_exit", "using_api"]

log = logging.getLogger("platform_god.automations")

_lock = threading.RLock()
_embedded_url: str | None = None
_exit_callbacks: list[Callable[[], None]] = []
_exit_hook_registered = False








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
