"""The warm runner's lifetime: it stops when idle, `run` starts a new one, and it stops with the embedded server.

One real embedded server for the module, runners with a 3 s idle timeout; the tests run in file order.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.local_server.process_records import pid_alive
from tests.compiler.commands.warm.test_runner_e2e import NOTE, READY_TIMEOUT, Project, _wait_for

IDLE_SECONDS = "3"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("warm-lifetime")
    (root / "configs" / "automations").mkdir(parents=True)
    (root / "configs" / "automations" / "warm_note.yaml").write_text(NOTE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATIONS_"))}
    env.update({"PREFECT_HOME": str(root / "prefect-home"), "NO_COLOR": "1", "AUTOMATIONS_WARM_IDLE_SECONDS": IDLE_SECONDS})
    project = Project(root, env)
    try:
        first = project.cli("run", "warm_note")
        assert first.returncode == 0, first.stdout + first.stderr
        yield project
    finally:
        project.cli("server", "stop")


def _runner_pid(project: Project) -> int:
    _wait_for(lambda: project.runner() is not None, READY_TIMEOUT, "the warm runner")
    record = project.runner()
    assert record is not None
    return int(record["pid"])  # type: ignore[call-overload]


def test_an_idle_runner_stops_and_forgets_itself(project: Project) -> None:
    pid = _runner_pid(project)
    _wait_for(lambda: not pid_alive(pid), 60, "the idle runner to stop")
    assert not (project.server_dir / "warm.json").exists()
    assert f"[{pid}] stopping: idle for {IDLE_SECONDS}s" in project.log()


def test_the_next_run_runs_itself_and_starts_a_new_runner(project: Project) -> None:
    # This runner must outlive the next test's set-up: it takes its idle time from the run that starts it.
    done = project.cli("run", "warm_note", env={**project.env, "AUTOMATIONS_WARM_IDLE_SECONDS": "600"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert _runner_pid(project) > 0


def test_the_runner_stops_with_the_embedded_server(project: Project) -> None:
    pid = _runner_pid(project)
    server = json.loads((project.server_dir / "server.json").read_text())
    os.killpg(int(server["pid"]), signal.SIGTERM)
    _wait_for(lambda: not pid_alive(pid), 60, "the runner to stop after its server")
    assert f"[{pid}] stopping: the embedded server (pid {server['pid']}) stopped" in project.log()
    time.sleep(0.1)
    assert not Path(project.server_dir / "warm.sock").exists()
