"""``python -m compiler webhooks`` in the foreground: a graceful stop (SIGTERM from a service manager, SIGINT from
Ctrl-C) ends the process with exit 0, after uvicorn finished, with no traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.compiler.support import ROOT
from tests.conftest import prefect_env

START_TIMEOUT_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_graceful_stop_exits_0(prefect_server: str, tmp_path: Path, signum: signal.Signals) -> None:
    (tmp_path / "configs" / "automations").mkdir(parents=True)
    (tmp_path / "configs" / "webhooks").mkdir()
    (tmp_path / "configs" / "webhooks" / "hook.yaml").write_text(
        'name: hook\nauth: {type: bearer, token: "{secret:server_test_token}"}\nevent: {event_type: custom, custom_type: x}\n',
        encoding="utf-8")
    env = prefect_env(prefect_server, tmp_path / "prefect-home")
    env.update({"AUTOMATIONS_SECRET_SERVER_TEST_TOKEN": "t0ken", "PYTHONPATH": str(ROOT)})
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "compiler", "--config-dir", str(tmp_path / "configs" / "automations"), "webhooks", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        restore_signals=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert proc.poll() is None, f"receiver exited with {proc.returncode}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "receiver did not start"
            time.sleep(0.2)
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert (proc.returncode, "Traceback" in output) == (0, False), output
