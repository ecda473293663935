"""A `run` it refuses (unknown automation, bad parameter, unreadable event file) starts no embedded server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ROOT
from tests.conftest import processes_with_prefect_home


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["no_such_automation"], 1, "no automation named 'no_such_automation'"),
        (["daily_security_scan", "--param", "no-equals-sign"], 2, "--param expects KEY=VALUE"),
        (["chain_completion_notification", "--event", "missing.json"], 2, "cannot read event file"),
    ],
    ids=["unknown automation", "bad parameter", "unreadable event file"],
)
def test_a_refused_run_starts_no_embedded_server(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATIONS_"))}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"})
    done = subprocess.run(
        [sys.executable, "-m", "compiler", "run", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )
    assert (done.returncode, message in done.stderr) == (code, True), done.stdout + done.stderr
    home = tmp_path / "var" / "prefect"
    assert not (home / "server.json").exists()
    assert processes_with_prefect_home(home) == []
