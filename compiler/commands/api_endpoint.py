"""Which Prefect API the CLI talks to: PREFECT_API_URL (env or active profile), else the embedded local server."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.local_server.server import StartingServer

__all__ = ["ApiTarget", "begin_api", "configured_api_url", "use_api"]


@dataclass(frozen=True)
class ApiTarget:
    """The API a command talks to; ``starting`` is the embedded server while it does not answer yet."""

    url: str
    embedded: bool
    starting: StartingServer | None = None

    def ready(self) -> None:
        """Return once the API answers (at once unless an embedded server is still starting)."""
        if self.starting is not None:
            self.starting.wait()


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


def use_api() -> tuple[str, bool]:
    """Point this process at an API before Prefect is imported; True when the embedded server is used."""
    url = configured_api_url()
    if url:
        os.environ["PREFECT_API_URL"] = url
        return url, False
    # deferred: the local server module costs ~110 ms (measured); every command loads this module; validate, list and test never need it
    from flows.local_server.server import ensure_local_server

    server = ensure_local_server()
    os.environ["PREFECT_API_URL"] = server.api_url
    return server.api_url, True


def begin_api() -> ApiTarget:
    """``use_api`` without waiting for an embedded server it has to start: call ``ready()`` before the first
    API call, and do imports and other work in between (they overlap the start-up)."""
    url = configured_api_url()
    if url:
        os.environ["PREFECT_API_URL"] = url
        return ApiTarget(url, embedded=False)
    # deferred: the local server module costs ~110 ms (measured); every command loads this module; validate, list and test never need it
    from flows.local_server.server import StartingServer, begin_local_server

    server = begin_local_server()
    os.environ["PREFECT_API_URL"] = server.api_url
    return ApiTarget(server.api_url, embedded=True, starting=server if isinstance(server, StartingServer) else None)
