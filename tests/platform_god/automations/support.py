"""Real parts for the Python API's end-to-end tests: the spec's ```python blocks as one script, a gated
local HTTP endpoint that holds a run in flight, and Prefect reads of runs and events.

Nothing here replaces Prefect or project code: the script runs in its own Python process against the
session's real ``prefect server start``; the HTTP server is a real socket on 127.0.0.1.
"""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["SPEC", "GateServer", "read_events", "section_python_blocks", "spec_python_blocks", "spec_script"]

SPEC = Path("/work/shared/spec/platform-god-automations.md")
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
REPO_PLACEHOLDER = "/path/to/repo"


def spec_python_blocks(text: str) -> list[str]:
    """Every ```python block of a Markdown text, in order, verbatim."""
    return _PYTHON_BLOCK.findall(text)


def section_python_blocks(text: str, heading: str) -> dict[str, str]:
    """The ```python blocks of a Markdown section (``## heading`` up to the next ``## ``), by their ``###`` title."""
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, str] = {}
    for part in section.split("\n### ")[1:]:
        title, _, body = part.partition("\n")
        found = spec_python_blocks(body)
        if found:
            blocks[title.strip()] = "\n".join(found)
    return blocks


def spec_script(text: str, repository: Path) -> str:
    """The spec's Python blocks as one script: ``/path/to/repo`` replaced by ``repository``, and
    ``agent_result`` (which the spec leaves undefined) defined first as a PG_DISCOVERY result."""
    prelude = (
        "# Defined by the test: the spec uses agent_result without defining it.\n"
        "from pathlib import Path as _Path\n"
        "from flows.agents import AgentRequest as _AgentRequest, get_agent as _get_agent\n"
        f"agent_result = _get_agent('PG_DISCOVERY').run(_AgentRequest(_Path({str(repository)!r})))\n"
    )
    blocks = [block.replace(REPO_PLACEHOLDER, str(repository)) for block in spec_python_blocks(text)]
    return "\n".join([prelude, *blocks])


class GateServer:
    """``GET /hold`` answers only when ``release()`` is called (or after ``max_hold`` seconds); every
    request is timestamped on arrival and on answer."""

    def __init__(self, max_hold: float = 180.0) -> None:
        self.released = threading.Event()
        self.arrived: list[float] = []
        self.answered: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                outer.arrived.append(time.time())
                outer.released.wait(timeout=max_hold)
                data = b'{"held": true}'
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    outer.answered.append(time.time())

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="gate-http", daemon=True)

    def __enter__(self) -> GateServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def release(self) -> None:
        self.released.set()


async def read_events(prefix: str, labels: dict[str, str], limit: int = 50) -> list[Any]:
    """Events (oldest first) whose name starts with ``prefix`` and whose resource has ``labels``."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.schemas.events import ResourceSpecification

    event_filter = EventFilter(
        event=EventNameFilter(prefix=[prefix]), resource=EventResourceFilter(labels=ResourceSpecification(labels))
    )
    async with get_client() as client:
        page = await client.read_events(filter=event_filter, limit=limit)
    return sorted(page.events, key=lambda e: e.occurred)
