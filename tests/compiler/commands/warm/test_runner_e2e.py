"""`run` on the embedded server hands later runs to the project's warm runner, and they behave as runs in their own
process would: the caller's output, exit code, environment and working directory; other settings are declined.

One real embedded Prefect server and one real warm runner for the module (the first `run` starts both); the
last test stops them with `server stop`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import certifi
import pytest

from flows.local_server.process_records import pid_alive

NOTE = """name: warm_note
description: Warm-runner test - a log line and a file.
trigger:
  type: event
  event:
    event_type: custom
    custom_type: warm_note
actions:
  - type: log_message
    name: say
    parameters:
      message: "hello from {automation_name}"
  - type: create_artifact
    name: keep
    parameters:
      artifact_type: note
      filename: "warm/{run_id}.json"
      content: {ok: true}
"""

FAILS = """name: warm_fails
description: Warm-runner test - its only action fails (an internal address, refused by default).
trigger:
  type: event
  event:
    event_type: custom
    custom_type: warm_fails
actions:
  - type: http_request
    name: call
    parameters:
      url: "http://127.0.0.1:9/nothing"
"""

SLOW = """name: warm_slow
description: Warm-runner test - waits on a local endpoint that answers late.
trigger:
  type: event
  event:
    event_type: custom
    custom_type: warm_slow
actions:
  - type: http_request
    name: wait
    parameters:
      url: "{url}"
    timeout_seconds: 120
"""

READY_TIMEOUT = 300.0  # a fresh embedded server migrates its database first; this machine may be busy


@dataclass
class Project:
    root: Path
    env: dict[str, str]

    @property
    def server_dir(self) -> Path:
        return self.root / "var" / "prefect"

    def cli(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "compiler", *args], cwd=cwd or self.root, env=env or self.env,
            capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL, check=False,
        )

    def runner(self) -> dict[str, object] | None:
        try:
            record = json.loads((self.server_dir / "warm.json").read_text())
        except (OSError, ValueError):
            return None
        return record if pid_alive(int(record["pid"])) and Path(record["socket"]).exists() else None

    def log(self) -> str:
        return (self.server_dir / "warm.log").read_text(errors="replace")


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    root = tmp_path_factory.mktemp("warm-project")
    automations = root / "configs" / "automations"
    automations.mkdir(parents=True)
    (automations / "warm_note.yaml").write_text(NOTE, encoding="utf-8")
    (automations / "warm_fails.yaml").write_text(FAILS, encoding="utf-8")
    (automations / "warm_slow.yaml").write_text(SLOW, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AUTOMATIONS_"))}
    env.update({"PREFECT_HOME": str(root / "prefect-home"), "NO_COLOR": "1", "COLUMNS": "200"})
    project = Project(root, env)
    try:
        first = project.cli("run", "warm_note")
        assert first.returncode == 0, first.stdout + first.stderr
        _wait_for(lambda: project.runner() is not None, READY_TIMEOUT, "the warm runner")
        yield project
    finally:
        project.cli("server", "stop")
        record = project.runner()
        if record is not None:
            os.kill(int(record["pid"]), 9)


def _runs_in_log(project: Project) -> int:
    return project.log().count(": run ")


def test_a_later_run_is_run_by_the_warm_runner(project: Project) -> None:
    before = _runs_in_log(project)
    done = project.cli("run", "warm_note")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warm_note run" in done.stdout and "Completed" in done.stdout
    assert _runs_in_log(project) == before + 1


def test_the_exit_code_of_a_failed_run_comes_through_the_runner(project: Project) -> None:
    before = _runs_in_log(project)
    done = project.cli("run", "warm_fails")
    assert (done.returncode, _runs_in_log(project)) == (1, before + 1), done.stdout + done.stderr
    assert "Failed" in done.stdout


def test_the_run_reads_the_callers_environment(project: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "state"
    done = project.cli("run", "warm_note", env={**project.env, "AUTOMATIONS_STATE_DIR": str(elsewhere)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((elsewhere / "artifacts" / "warm").glob("*.json")), "the artifact went to the runner's state folder"


def test_a_run_from_a_subfolder_is_run_there(project: Project) -> None:
    before = _runs_in_log(project)
    done = project.cli("run", "warm_note", cwd=project.root / "configs")
    assert (done.returncode, _runs_in_log(project)) == (0, before + 1), done.stdout + done.stderr


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("PREFECT_LOGGING_LEVEL", "WARNING", "Prefect settings differ from the runner's (logging)"),
        ("PYTHONWARNINGS", "ignore", "environment read when Python and Prefect start differs (PYTHONWARNINGS)"),
        # certifi's bundle: a valid CA file (the command must still work) that is not the one the runner started with
        ("SSL_CERT_FILE", certifi.where(), "environment read when Python and Prefect start differs (SSL_CERT_FILE)"),
    ],
)
def test_what_a_forked_run_could_not_honour_is_declined_and_the_command_runs_itself(
    project: Project, variable: str, value: str, reason: str
) -> None:
    before = _runs_in_log(project)
    done = project.cli("run", "warm_note", env={**project.env, variable: value})
    assert done.returncode == 0, done.stdout + done.stderr
    assert _runs_in_log(project) == before
    assert f"declined: {reason}" in project.log()


def test_turned_off_the_command_runs_itself(project: Project) -> None:
    before = _runs_in_log(project)
    done = project.cli("run", "warm_note", env={**project.env, "AUTOMATIONS_WARM_RUNS": "false"})
    assert (done.returncode, _runs_in_log(project)) == (0, before), done.stdout + done.stderr


def _as_from_a_terminal(*args: str) -> list[str]:
    """``python -m compiler ARGS`` as typed at a terminal, with SIGINT at its default: pytest may run as a background
    job, whose commands inherit SIGINT ignored (exec keeps the reset; no preexec_fn in a process with threads)."""
    reset_then_exec = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, sys.argv[1:])"
    return [sys.executable, "-c", reset_then_exec, sys.executable, "-m", "compiler", *args]


class _SlowHandler(BaseHTTPRequestHandler):
    arrived = threading.Event()

    def do_GET(self) -> None:
        type(self).arrived.set()
        time.sleep(60)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("warm", [True, False], ids=["through the runner", "in its own process"])
def test_ctrl_c_ends_the_run_and_its_exit_code_comes_back(project: Project, warm: bool) -> None:
    """Through the runner (the caller forwards Ctrl-C to the run) and without it (turned off, or declining)."""
    _SlowHandler.arrived.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**project.env, "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true", **({} if warm else {"AUTOMATIONS_WARM_RUNS": "false"})}
    before = _runs_in_log(project)
    caller = subprocess.Popen(
        _as_from_a_terminal("run", "warm_slow", "--param", f"url=http://127.0.0.1:{server.server_port}/slow"),
        cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    try:
        assert _SlowHandler.arrived.wait(120), "the run never called the slow endpoint"
        caller.send_signal(signal.SIGINT)
        out, err = caller.communicate(timeout=50)  # well before the endpoint's 60 s answer
    finally:
        if caller.poll() is None:
            caller.kill()
        server.shutdown()
    assert _runs_in_log(project) == before + (1 if warm else 0), out + err
    assert caller.returncode == 130 and "interrupted" in err, (caller.returncode, out[-2000:], err[-2000:])


# Last in the module: it stops the runner and the server the other tests share.
def test_server_stop_stops_the_runner_and_its_socket(project: Project) -> None:
    record = project.runner()
    assert record is not None
    done = project.cli("server", "stop")
    assert f"stopped the warm runner (pid {record['pid']})" in done.stdout
    assert not pid_alive(int(record["pid"]))  # type: ignore[arg-type]
    assert not Path(str(record["socket"])).exists() and not (project.server_dir / "warm.json").exists()
