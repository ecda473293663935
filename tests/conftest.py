"""Shared fixtures: one real Prefect server per test session (``prefect_server`` yields its API URL)."""

from __future__ import annotations

import compileall
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.local_server.server import start_server, stop_local_server

# The runtime fixtures (http_server, runtime, tag, …) serve tests of flows/ and of the commands alike.
pytest_plugins = ["tests.runtime_fixtures"]

__all__ = ["PREFECT_BIN", "prefect_env", "prefect_server", "processes_with_prefect_home"]

PREFECT_BIN = str(Path(sys.executable).with_name("prefect"))
_HEALTH_TIMEOUT_SECONDS = 300.0  # a fresh database migrates first (~11 s measured; a loaded 2-core machine took >120 s)


def processes_with_prefect_home(home: Path) -> list[int]:
    """Pids of the processes whose environment points PREFECT_HOME at ``home`` (an embedded server's: Linux)."""
    needle = f"PREFECT_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def prefect_env(api_url: str, home: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a Prefect CLI/client subprocess talking to ``api_url`` with its own PREFECT_HOME."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # No colour or wrapping in captured CLI output.
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    return env


_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_PACKAGES = ("compiler", "flows", "platform_god", "tests")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Write the project's bytecode once, before any test starts a Python process.

    Where PYTHONDONTWRITEBYTECODE is set (the CI image sets it), an editable install has no .pyc files,
    so every process the tests start (CLI commands, `serve`, each worker's flow run) compiled the project
    from source: measured ~0.3 s of the ~3 s a process takes to import the runtime, over hundreds of
    processes per suite. compileall writes the files regardless of that setting; processes only read them.
    """
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller compiled already
    for package in _PACKAGES:
        compileall.compile_dir(_PROJECT_ROOT / package, quiet=1)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `prefect server start` on a free port with a temporary PREFECT_HOME; yields the API URL.

    One per session (startup costs ~10 s), started and stopped (by PID) with the product's own
    local-server code; stopped at the end, also when a test fails.
    """
    home = tmp_path_factory.mktemp("prefect-server-home")
    try:
        server = start_server(home, timeout=_HEALTH_TIMEOUT_SECONDS, ui=False)
    except RuntimeError as exc:
        tail = (home / "server.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"{exc}\n{tail}")
    try:
        yield server.api_url
    finally:
        stop_local_server(home)
