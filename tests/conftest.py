"""Shared fixtures: one real Prefect server per test session (``prefect_server`` yields its API URL)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

__all__ = ["PREFECT_BIN", "prefect_env", "prefect_server"]

PREFECT_BIN = str(Path(sys.executable).with_name("prefect"))
_HEALTH_TIMEOUT_SECONDS = 120.0  # a fresh database migrates first (~11 s measured; slow CI gets headroom)
_STOP_GRACE_SECONDS = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a grace period; only this process, by its PID."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=_STOP_GRACE_SECONDS)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `prefect server start` on a free port with a temporary PREFECT_HOME; yields the API URL.

    One per session (startup costs ~10 s); stopped at the end, also when a test fails.
    """
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = prefect_env(api_url, home)
    env["PREFECT_SERVER_UI_ENABLED"] = "false"  # starts faster; tests never open the UI
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [PREFECT_BIN, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + _HEALTH_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"prefect server exited with code {proc.returncode}:\n{tail}")
            try:
                if httpx.get(f"{api_url}/health", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after {_HEALTH_TIMEOUT_SECONDS:.0f} s; log: {log_path}")
            time.sleep(0.25)
        yield api_url
    finally:
        _stop(proc)
