"""Which Prefect API the CLI talks to: PREFECT_API_URL (env or active profile), else the embedded local server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flows.local_server.api_choice import configured_api_url

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
