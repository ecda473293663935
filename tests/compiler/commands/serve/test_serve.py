"""End-to-end tests of ``python -m compiler serve``: real serve processes against the session's real Prefect
server, real signals, a real HTTP server on 127.0.0.1 as the first action's target.

Each test has its own project folder (so its own ``var/serve.lock``) and automation names no other test
uses, so the shared Prefect server's runs and deployments never mix between tests.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compiler.support import make_config_dir
from tests.conftest import prefect_env
from tests.flows.e2e_support import ScriptedServer

START_TIMEOUT_SECONDS = 90.0  # deploying and the first poll take ~1.5 s here; slow CI gets headroom
RUN_TIMEOUT_SECONDS = 60.0  # event → flow run claimed → first action: ~0.5 s measured
STOP_TIMEOUT_SECONDS = 20.0


# --------------------------------------------------------------------------------------------- helpers


@dataclass
class Serve:
    """One ``python -m compiler serve`` process; its combined output is collected by a reader thread."""

    proc: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, name=f"serve-{self.proc.pid}-output", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, text: str, timeout: float = START_TIMEOUT_SECONDS) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None:
                self._reader.join(timeout=5)  # type: ignore[union-attr]
                raise AssertionError(f"serve exited with {self.proc.returncode} before printing {text!r}:\n{self.output}")
            time.sleep(0.05)
        raise AssertionError(f"serve did not print {text!r} within {timeout:.0f} s:\n{self.output}")

    def signal_and_wait(self, signum: int, timeout: float) -> tuple[int, float]:
        """Send ``signum``; the exit code and how long the process took to exit after it."""
        sent = time.monotonic()
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"serve did not exit within {timeout:.0f} s of {signal.Signals(signum).name}:\n{self.output}") from exc
        self._reader.join(timeout=5)  # type: ignore[union-attr]
        return code, time.monotonic() - sent

    def kill(self) -> None:
        """SIGKILL and reap (a zombie still counts as alive for the project lock's PID check)."""
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._reader.join(timeout=5)  # type: ignore[union-attr]

    def stop(self) -> None:
        """Last resort for the finally blocks: SIGTERM, wait, SIGKILL; only this process, by its PID."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        if self.proc.stdout is not None:
            self._reader.join(timeout=5)  # type: ignore[union-attr]
            self.proc.stdout.close()


@dataclass
class Project:
    """A throw-away project folder: ``configs/automations`` (+ the example chains) and ``var/``."""

    root: Path
    api_url: str
    prefect_home: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def automations_dir(self) -> Path:
        return self.root / "configs" / "automations"

    def env(self) -> dict[str, str]:
        env = prefect_env(self.api_url, self.prefect_home)
        env.update(
            {
                "AUTOMATIONS_CONFIG_DIR": str(self.root / "configs"),
                "AUTOMATIONS_STATE_DIR": str(self.root / "var" / "automations"),
                "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true",
                "PYTHONUNBUFFERED": "1",
                **self.extra_env,
            }
        )
        return env

    def command(self, grace: float) -> list[str]:
        return [sys.executable, "-m", "compiler", "--config-dir", str(self.automations_dir), "serve", "--grace", f"{grace:g}"]

    def write(self, name: str, text: str) -> None:
        (self.automations_dir / f"{name}.yaml").write_text(textwrap.dedent(text))

    def start(self, grace: float = 20.0) -> Serve:
        """Start serve the way a terminal would: its own session, default signal dispositions (not ``cmd &``)."""
        proc = subprocess.Popen(
            self.command(grace),
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            restore_signals=True,
        )
        return Serve(proc)

    def serving(self, grace: float = 20.0) -> Serve:
        serve = self.start(grace)
        try:
            serve.wait_for_line("serving ")
        except BaseException:
            serve.stop()
            raise
        return serve


@pytest.fixture(scope="module")
def http_server() -> Iterator[ScriptedServer]:
    """127.0.0.1 HTTP server in a thread: ``/script/s<N>/<tag>`` answers 200 after sleeping N seconds."""
    server = ScriptedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def project(prefect_server: str, tmp_path: Path) -> Project:
    root = tmp_path / "project"
    root.mkdir()
    make_config_dir(root / "configs")
    home = tmp_path / "prefect-home"
    home.mkdir()
    return Project(root=root, api_url=prefect_server, prefect_home=home)


@pytest.fixture
def prefect_client(prefect_server: str) -> Iterator[Any]:
    """A sync Prefect client on the session's server (settings switched with Prefect's own mechanism)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server}), get_client(sync_client=True) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def slow_event_automation(project: Project, name: str, url: str) -> None:
    """Custom event ``custom_type: <name>`` → http_request to ``url`` (slow) → log_message."""
    project.write(
        name,
        f"""\
        name: {name}
        description: serve test
        trigger:
          type: event
          event:
            event_type: custom
            custom_type: {name}
        actions:
          - type: http_request
            name: call_slow_service
            parameters:
              url: "{url}"
              method: GET
          - type: log_message
            name: after_call
            parameters:
              message: "slow service answered"
        """,
    )


def publish_custom(api_url: str, custom_type: str) -> float:
    """POST the project's custom event to /api/events (synchronous: accepted when this returns)."""
    from flows.events.publish import build_event

    built = build_event("custom", {"custom_type": custom_type}, {"custom_type": custom_type})
    event = {
        "id": built.id,
        "occurred": datetime.now(UTC).isoformat(),
        "event": built.event,
        "resource": built.resource,
        "payload": built.payload,
    }
    sent = time.time()
    response = httpx.post(f"{api_url}/events", content=json.dumps([event]), headers={"content-type": "application/json"}, timeout=10)
    assert response.status_code == 204, response.text
    return sent


def flow_runs_of(client: Any, flow_name: str) -> list[Any]:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])))


def the_flow_run(client: Any, flow_name: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        runs = flow_runs_of(client, flow_name)
        if runs or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(runs) == 1, f"expected one run of {flow_name}, found {[(r.name, r.state_name) for r in runs]}"
    return runs[0]


def task_states(client: Any, flow_run_id: uuid.UUID, expected: int, timeout: float = 15.0) -> dict[str, str]:
    """Task name → final state type, once ``expected`` task runs are recorded in a final state (recorded from events)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    while True:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
        states = {r.name.rsplit("-", 1)[0]: r.state_type.value for r in runs if r.state_type is not None}
        if len(states) >= expected and all(r.state is not None and r.state.is_final() for r in runs):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_lets_an_in_flight_run_complete(
    signum: int, project: Project, http_server: ScriptedServer, prefect_client: Any
) -> None:
    """Tests 1 and 2: SIGTERM / SIGINT drain — the run already in its (3 s) first action finishes Completed."""
    name = unique("slow_job")
    path = f"/script/s3/{name}"
    slow_event_automation(project, name, f"{http_server.url}{path}")
    grace = 20.0
    serve = project.serving(grace)
    try:
        publish_custom(project.api_url, name)
        http_server.wait_for(path, 1, timeout=RUN_TIMEOUT_SECONDS)  # the run is now inside its first action
        code, took = serve.signal_and_wait(signum, timeout=grace + 10)
        assert code == 0, serve.output
        assert took < grace, f"exit took {took:.1f} s, grace {grace:g} s"
        assert f"{signal.Signals(signum).name}: taking no new runs" in serve.output
        assert "Crashed" not in serve.output, serve.output
    finally:
        serve.stop()
    run = the_flow_run(prefect_client, name)
    assert run.state_type.value == "COMPLETED", (run.state_name, run.state.message if run.state else None)
    assert task_states(prefect_client, run.id, 2) == {"call_slow_service": "COMPLETED", "after_call": "COMPLETED"}
    assert len(http_server.requests(path)) == 1


def test_run_outlasting_grace_is_crashed_and_serve_exits(
    project: Project, http_server: ScriptedServer, prefect_client: Any
) -> None:
    """Test 3: a run still busy when the grace period ends is ended Crashed, naming the grace; serve exits 0."""
    name = unique("stuck_job")
    path = f"/script/s60/{name}"
    slow_event_automation(project, name, f"{http_server.url}{path}")
    grace = 2.0
    serve = project.serving(grace)
    try:
        publish_custom(project.api_url, name)
        http_server.wait_for(path, 1, timeout=RUN_TIMEOUT_SECONDS)
        code, took = serve.signal_and_wait(signal.SIGTERM, timeout=grace + 15)
        assert code == 0, serve.output
        assert took >= grace - 0.5, f"exited after {took:.1f} s, before the {grace:g} s grace ended"
        assert "ended 1 unfinished run(s) Crashed" in serve.output, serve.output
    finally:
        serve.stop()
    run = the_flow_run(prefect_client, name)
    assert run.state_type.value == "CRASHED", (run.state_name, run.state.message if run.state else None)
    assert run.state.message is not None and "2s grace period" in run.state.message, run.state.message


def test_second_serve_of_a_project_refuses_until_the_first_is_dead(project: Project) -> None:
    """Test 4: one serve per project — the second exits 1 naming the holder's PID and host; a dead holder's lock is taken over."""
    name = unique("lock_job")
    project.write(
        name,
        f"""\
        name: {name}
        trigger:
          type: event
          event:
            event_type: custom
            custom_type: {name}
        actions:
          - type: log_message
            name: say
            parameters:
              message: hello
        """,
    )
    first = project.serving()
    third: Serve | None = None
    try:
        second = subprocess.run(
            project.command(grace=5), cwd=project.root, env=project.env(), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=60, start_new_session=True, check=False,
        )
        assert second.returncode == 1, second.stdout + second.stderr
        assert f"PID {first.proc.pid}" in second.stderr, second.stderr
        assert socket.gethostname() in second.stderr, second.stderr
        assert "serving " not in second.stdout
        assert first.proc.poll() is None, "the refused serve must not disturb the running one"

        first.kill()  # the lock file stays behind, naming a dead PID
        assert (project.root / "var" / "serve.lock").exists()
        third = project.serving()
        lock = json.loads((project.root / "var" / "serve.lock").read_text())
        assert lock == {"pid": third.proc.pid, "host": socket.gethostname()}
        code, _ = third.signal_and_wait(signal.SIGTERM, timeout=STOP_TIMEOUT_SECONDS)
        assert code == 0, third.output
        assert not (project.root / "var" / "serve.lock").exists(), "a clean exit releases the lock"
    finally:
        first.stop()
        if third is not None:
            third.stop()


def test_run_of_a_killed_serve_is_crashed_as_orphaned_at_next_start(
    project: Project, http_server: ScriptedServer, prefect_client: Any
) -> None:
    """Test 5: SIGKILL mid-run leaves the run RUNNING; the next serve of the project ends it Crashed ("orphaned")."""
    name = unique("orphan_job")
    path = f"/script/s60/{name}"
    slow_event_automation(project, name, f"{http_server.url}{path}")
    first = project.serving()
    second: Serve | None = None
    try:
        publish_custom(project.api_url, name)
        http_server.wait_for(path, 1, timeout=RUN_TIMEOUT_SECONDS)
        first.kill()
        run = the_flow_run(prefect_client, name)
        assert run.state_type.value == "RUNNING", run.state_name  # nobody will ever finish it

        second = project.serving()
        assert "marked 1 orphaned run(s) of a previous serve Crashed" in second.output, second.output
        code, _ = second.signal_and_wait(signal.SIGTERM, timeout=STOP_TIMEOUT_SECONDS)
        assert code == 0, second.output
    finally:
        first.stop()
        if second is not None:
            second.stop()
    run = prefect_client.read_flow_run(run.id)
    assert run.state_type.value == "CRASHED", run.state_name
    assert "orphaned" in (run.state.message or ""), run.state.message
    assert len(http_server.requests(path)) == 1, "the orphaned run is not run again"


def test_deployments_stay_schedulable_after_serve_exits(project: Project, prefect_client: Any) -> None:
    """Test 6: unlike Prefect's serve(), stopping does not pause deployments or delete their scheduled runs."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType

    name = unique("nightly_job")
    project.write(
        name,
        f"""\
        name: {name}
        trigger:
          type: time
          time:
            cron_expression: "0 2 * * *"
            timezone_str: UTC
        actions:
          - type: log_message
            name: say
            parameters:
              message: nightly
        """,
    )

    def scheduled_runs(deployment_id: uuid.UUID) -> list[Any]:
        return prefect_client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
        )

    serve = project.serving()
    try:
        deployment = prefect_client.read_deployment_by_name(f"{name}/{name}")
        deadline = time.monotonic() + 60  # the server's scheduler picks up new deployments every ~5 s
        while not scheduled_runs(deployment.id):
            assert time.monotonic() < deadline, "the server never scheduled runs for the served deployment"
            time.sleep(0.5)
        code, _ = serve.signal_and_wait(signal.SIGTERM, timeout=STOP_TIMEOUT_SECONDS)
        assert code == 0, serve.output
    finally:
        serve.stop()
    after = prefect_client.read_deployment(deployment.id)
    assert after.paused is False
    assert [s.active for s in after.schedules] == [True]
    assert scheduled_runs(deployment.id), "stopping serve deleted the scheduled runs"


def test_published_event_runs_the_first_action(project: Project, http_server: ScriptedServer) -> None:
    """Test 7: event → served run → first action happens (latency is measured by the benchmark, not asserted)."""
    name = unique("react_job")
    path = f"/script/200/{name}"
    slow_event_automation(project, name, f"{http_server.url}{path}")
    serve = project.serving()
    try:
        sent = publish_custom(project.api_url, name)
        seen = http_server.wait_for(path, 1, timeout=RUN_TIMEOUT_SECONDS)
        print(f"event → first action: {seen[0].at - sent:.2f} s")
        assert len(seen) == 1
    finally:
        serve.stop()


def test_serve_warns_when_its_environment_shares_results_but_not_locks(project: Project) -> None:
    """Issue 21, item 6: serve reads its settings from its own environment; results shared between machines
    without shared locks let two serves run one occurrence's action twice, so it says what to set."""
    name = unique("share_job")
    project.write(
        name,
        f"""\
        name: {name}
        trigger:
          type: event
          event:
            event_type: custom
            custom_type: {name}
        actions:
          - type: log_message
            name: say
            parameters:
              message: hello
        """,
    )
    project.extra_env["AUTOMATIONS_RESULT_STORAGE"] = "local-file-system/never-loaded-by-this-test"
    serve = project.serving()
    try:
        warnings = [line for line in serve.lines if line.startswith("warning: ")]
        code, _ = serve.signal_and_wait(signal.SIGTERM, timeout=STOP_TIMEOUT_SECONDS)
    finally:
        serve.stop()
    assert code == 0, serve.output
    assert (
        "warning: action results are shared between machines but idempotency locks are not (AUTOMATIONS_LOCK_URL unset): "
        "workers on two machines can both run one occurrence's action; set AUTOMATIONS_LOCK_URL=redis://HOST:6379/0 "
        "in the environment of every serve"
    ) in warnings, serve.output
