"""The README's first command: `serve` with no Prefect API configured starts the embedded server, runs an event's
automation and the README's signed webhook request (its curl recipe, run as printed) through the checkout's
webhook, and on Ctrl-C stops cleanly: every log line sent, no error printed, no server left running."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from flows.events.publish import build_event
from tests import ROOT
from tests.conftest import processes_with_prefect_home

README = (ROOT / "README.md").read_text(encoding="utf-8")
START_TIMEOUT_SECONDS = 300.0  # a fresh local server on a loaded 2-core machine
README_SECRET = re.search(r"export AUTOMATIONS_SECRET_GITHUB_WEBHOOK='([^']+)'", README).group(1)  # type: ignore[union-attr]


def readme_curl(receiver_url: str) -> str:
    """The README's "sign a request the way GitHub does" recipe, sent to ``receiver_url`` instead of 127.0.0.1:8787."""
    start = README.index("Without GitHub, sign a request")
    recipe = re.compile(r"```bash\n(.*?)```", re.S).search(README, start).group(1)  # type: ignore[union-attr]
    assert "http://127.0.0.1:8787" in recipe
    return recipe.replace("http://127.0.0.1:8787", receiver_url)


def _chain_completed() -> dict[str, object]:
    payload = {"chain_name": "full_analysis", "status": "completed", "completed_steps": 2, "total_steps": 2,
               "execution_time_ms": 5}
    built = build_event("chain_complete", {"chain_name": "full_analysis"}, payload)
    return {"id": built.id, "occurred": datetime.now(UTC).isoformat(), "event": built.event,
            "resource": built.resource, "payload": built.payload, "related": []}


def test_serve_on_the_embedded_server_runs_an_event_and_stops_cleanly(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATIONS_"))}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(ROOT), "NO_COLOR": "1",
                # The checkout's webhook starts the receiver too: on any free port, not 8787, which another process may hold.
                "AUTOMATIONS_WEBHOOKS_PORT": "0",
                "AUTOMATIONS_SECRET_GITHUB_WEBHOOK": README_SECRET})  # exported as the README's webhook section does
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
        wait_for("serving 5 deployment(s)", START_TIMEOUT_SECONDS)
        receiver = re.search(r"webhooks: listening on (http://127\.0\.0\.1:\d+): github_push \(POST /hooks/github_push, github\)",
                             wait_for("webhooks: listening on", 1))
        assert receiver is not None
        assert httpx.post(f"{ui.group(0)}/api/events", json=[_chain_completed()], timeout=30).status_code == 204
        assert "Completed" in wait_for("run finished: chain_completion_notification", 120)
        curl = subprocess.run(["bash", "-c", readme_curl(receiver.group(1))], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert "HTTP/1.1 202 Accepted" in curl.stdout, curl.stdout + curl.stderr
        assert "Completed" in wait_for("run finished: record_push", 120)
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
