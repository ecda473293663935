"""Which Prefect API this process talks to: PREFECT_API_URL (environment or active profile), else the embedded
local server (SQLite under ``var/prefect``, 127.0.0.1 only), reused when it runs, otherwise started for this process
and stopped when it exits. The CLI, the runtime's and the spec's Python API choose the same way."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["api_url", "configured_api_url", "using_api"]

log = logging.getLogger("platform_god.automations")

_lock = threading.RLock()
_embedded_url: str | None = None


def configured_api_url() -> str | None:
    """The API URL the user configured, read without importing Prefect (its settings load on import)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect"))
    profiles_path = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml"))
    try:
        profiles = tomllib.loads(profiles_path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    url = profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL")
    return str(url) if url else None


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
            # deferred: the local server module costs ~110 ms (measured: httpx); every command imports this module for
            # configured_api_url and `import platform_god.automations` does without it
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
