"""The README's first command: `serve` with no Prefect API configured starts the embedded server, runs an event's
automation, and on Ctrl-C stops cleanly: every log line sent, no error printed, no server left running."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from flows.events.publish import build_event
from tests.conftest import processes_with_prefect_home

from tests import ROOT
START_TIMEOUT_SECONDS = 300.0  # a fresh local server on a loaded 2-core machine


def _chain_completed() -> dict[str, object]:
    payload = {"chain_name": "full_analysis", "status": "completed", "completed_steps": 2, "total_steps": 2,
               "execution_time_ms": 5}
    built = build_event("chain_complete", {"chain_name": "full_analysis"}, payload)
    return {"id": built.id, "occurred": datetime.now(timezone.utc).isoformat(), "event": built.event,
            "resource": built.resource, "payload": built.payload, "related": []}


def test_serve_on_the_embedded_server_runs_an_event_and_stops_cleanly(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATIONS_"))}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    serve = subprocess.Popen([sys.executable, "-m", "compiler", "serve"], cwd=tmp_path, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(serve.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()

    def wait_for(text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((line for line in list(lines) if text in line), None)
            if found is not None:
                return found
            assert serve.poll() is None, "".join(lines)
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} within {timeout:.0f}s:\n{''.join(lines)}")

    try:
        ui = re.search(r"http://127\.0\.0\.1:\d+", wait_for("Prefect UI:", START_TIMEOUT_SECONDS))
        assert ui is not None
        wait_for("serving 4 deployment(s)", START_TIMEOUT_SECONDS)
        assert httpx.post(f"{ui.group(0)}/api/events", json=[_chain_completed()], timeout=30).status_code == 204
        assert "Completed" in wait_for("run finished: chain_completion_notification", 120)
        serve.send_signal(signal.SIGINT)
        assert serve.wait(90) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
    reader.join(10)
    output = "".join(lines)
    assert "stopped; deployments stay scheduled for the next serve" in output
    assert "Error logging to API" not in output and "Traceback" not in output, output
    assert not (tmp_path / "var" / "prefect" / "server.json").exists()
    assert processes_with_prefect_home((tmp_path / "var" / "prefect").resolve()) == []
