"""`replay` with no Prefect API configured reads the embedded local server (compiler/commands/api_endpoint.py decides), like `run`
and `serve`; `server stop` stops it again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import processes_with_prefect_home

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 600.0  # a fresh local server on a loaded 2-core machine


def test_replay_reads_the_embedded_server_when_no_api_is_configured(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATIONS_"))}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "compiler", *args], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=TIMEOUT_SECONDS, stdin=subprocess.DEVNULL, check=False)

    try:
        replayed = command("replay", "--json")
    finally:
        stopped = command("server", "stop")
    assert replayed.returncode == 2, replayed.stderr
    data = json.loads(replayed.stdout)
    assert data["api_url"].startswith("http://127.0.0.1:") and any("embedded local server" in n for n in data["notes"])
    found = {a["name"]: a for a in data["automations"]}
    # Nothing is deployed on the new server: the daily scan's 02:00 run differs, the others fire nothing either way.
    assert {n: (a["working_tree"]["would_fire"], a["deployed"]["source"], a["verdict"]) for n, a in found.items()} == {
        "chain_completion_notification": (0, "not deployed", "same"),
        "daily_security_scan": (1, "not deployed", "differs"),
        "health_alert": (0, "not deployed", "same"),
        "record_push": (0, "not deployed", "same"),
    }
    assert stopped.returncode == 0 and "stopped local Prefect server" in stopped.stdout
    assert processes_with_prefect_home((tmp_path / "var" / "prefect").resolve()) == []
