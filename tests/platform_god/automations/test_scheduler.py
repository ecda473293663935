"""The scheduler in this process: one per project (serve's lock), and a hard stop ends in-flight runs Crashed.

The second test runs a real scheduler (background thread of the test process) against the session's
Prefect server; its only automation waits on a local HTTP endpoint so a run is surely in flight.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from compiler.commands.serve.lock import LockHeld
from platform_god.automations import AutomationRegistry, AutomationScheduler
from tests.platform_god.automations.support import GateServer
from tests.prefect_support import make_project, project_runtime, runs_of_deployment, using_api

NAME = "scheduler_hard_stop"
AUTOMATION = """\
trigger:
  type: time
  time:
    cron_expression: "0 0 1 1 *"
actions:
  - type: http_request
    name: wait_for_release
    parameters:
      url: "{url}/hold"
    timeout_seconds: 240
"""


def test_a_second_scheduler_of_the_project_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    holder = subprocess.Popen(["sleep", "60"])
    try:
        lock = tmp_path / "serve.lock"
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
        scheduler = AutomationScheduler(AutomationRegistry(project / "configs" / "automations"), lock_path=lock)
        with pytest.raises(LockHeld, match=f"already served by PID {holder.pid} on host {socket.gethostname()}"):
            scheduler.start()
        assert not scheduler.running
    finally:
        holder.kill()  # only the process this test started, by its PID
        holder.wait(timeout=10)


def test_the_default_lock_is_the_project_roots_from_a_subfolder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same lock as `serve` run from anywhere in the project (not ``var/`` under the current folder)."""
    project = make_project(tmp_path)
    monkeypatch.chdir(project / "configs")
    scheduler = AutomationScheduler(AutomationRegistry(project / "configs" / "automations"))
    assert scheduler.lock_path == project.resolve() / "var" / "serve.lock"


def test_stop_not_graceful_ends_in_flight_runs_crashed_with_the_reason(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE", "true")  # the action calls the test's 127.0.0.1 endpoint
    with GateServer() as gate:
        project = make_project(tmp_path, {NAME: AUTOMATION.format(url=gate.url)}, examples=False)
        lock = project / "var" / "serve.lock"
        with using_api(prefect_server), project_runtime(project, project / "var" / "automations"):
            scheduler = AutomationScheduler(AutomationRegistry(project / "configs" / "automations"), lock_path=lock)
            scheduler.start()
            try:
                assert [a.name for a in scheduler.automations] == [NAME]
                run_id = asyncio.run(_start_run(f"{NAME}/{NAME}"))
                deadline = time.monotonic() + 120
                while not gate.arrived and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert gate.arrived, "the scheduler did not start the run"
                heartbeats = asyncio.run(_heartbeats_of(run_id))
                report = scheduler.stop(graceful=False)
            finally:
                scheduler.stop()
            (run,) = [r for r in asyncio.run(runs_of_deployment(f"{NAME}/{NAME}")) if r.id == run_id]
    assert heartbeats >= 1  # the zombie-run automation can end its runs Crashed if this process is killed
    assert (report.in_flight, report.crashed) == (1, [str(run_id)])
    assert run.state is not None and run.state.name == "Crashed", run.state
    assert "did not finish within the 0s grace period" in (run.state.message or "")
    assert not lock.exists()


async def _start_run(deployment_name: str) -> object:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(deployment_name)
        return (await client.create_flow_run_from_deployment(deployment.id)).id


async def _heartbeats_of(run_id: object, timeout: float = 30.0) -> int:
    """Heartbeat events of the run on the server (sent in the background: wait for the first)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    event_filter = EventFilter(
        event=EventNameFilter(name=["prefect.flow-run.heartbeat"]), resource=EventResourceFilter(id=[f"prefect.flow-run.{run_id}"])
    )
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            page = await client.read_events(filter=event_filter, limit=50)  # the server refuses its client's default (100)
            if page.events or time.monotonic() > deadline:
                return len(page.events)
            await asyncio.sleep(0.5)
