"""Done-when of issue 14: the spec's Python usage runs as written.

Every ```python block of the spec, in order, is one script (only ``/path/to/repo`` replaced, and
``agent_result`` defined first as a PG_DISCOVERY result). It runs in its own Python process, in a copy
of the project, against the session's real Prefect server. While it runs, the test starts one run of a
time-triggered automation it added (its only action waits on a local HTTP endpoint), so the script's
``scheduler.stop(graceful=True, timeout=30.0)`` finds it in flight; the endpoint answers once the
scheduler's ``stopping`` event is on the server. After the script: it exited 0 by itself, nothing it
started still runs, the ``chain_complete`` event it published ran ``chain_completion_notification``,
the held run completed, and the trigger engine started once although ``start()`` was called twice.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import prefect_env
from tests.flows.agents.repo_builders import write_tree
from tests.platform_god.automations.support import SPEC, GateServer, read_events, spec_python_blocks, spec_script
from tests.prefect_support import example_names, make_project, runs_of_deployment, using_api, wait_for, without_server_state_of

SCRIPT_TIMEOUT_SECONDS = 600.0  # ~1.5 min measured on a busy 2-core machine; slow CI gets headroom
# The server writes events in batches (event persister flush interval): an event the script sent just
# before it exited can take seconds to be readable (CI once read nothing right after the exit).
EVENT_PERSIST_SECONDS = 60.0
HOLD = "spec_scheduler_hold"
HOLD_AUTOMATION = """\
description: Test-only time automation whose one action waits on the test's HTTP endpoint.
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


@dataclass
class ScriptRun:
    """What the test saw of one run of the spec script."""

    returncode: int | None = None
    output: str = ""
    pid: int = 0
    held_run_id: str | None = None
    stopping: list[Any] = field(default_factory=list)
    leftovers: list[int] = field(default_factory=list)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment holds ``marker`` (the script and anything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def _drive(proc: subprocess.Popen[str], gate: GateServer, run: ScriptRun) -> None:
    """While the script runs: start one run of the held automation as soon as the scheduler deployed it,
    and release its endpoint once the scheduler's ``stopping`` event arrived (or the script ended)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    async with get_client() as client:
        while run.held_run_id is None and proc.poll() is None:
            try:
                deployment = await client.read_deployment_by_name(f"{HOLD}/{HOLD}")
            except ObjectNotFound:
                await asyncio.sleep(0.2)
                continue
            flow_run = await client.create_flow_run_from_deployment(deployment.id)
            run.held_run_id = str(flow_run.id)
    labels = {"platform-god.pid": str(proc.pid)}
    while proc.poll() is None and not run.stopping:
        run.stopping = await read_events("platform-god.scheduler.stopping", labels)
        await asyncio.sleep(0.5)
    gate.release()


@pytest.fixture(scope="module")
def script_run(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptRun]:
    # Other modules of the session serve or deploy the same examples on this server: a run their triggers
    # left waiting would be executed by this script's engine first and take the cooldown (issue 21, item 7).
    with without_server_state_of(prefect_server, [*example_names(), HOLD]):
        yield _run_script(prefect_server, tmp_path_factory)


def _run_script(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> ScriptRun:
    base = tmp_path_factory.mktemp("spec-python")
    repository = write_tree(base / "repo", {"app.py": "print('hello')\n", "README.md": "# repo\n"})
    marker = f"spec-python-{uuid.uuid4()}"
    with GateServer() as gate:
        project = make_project(base, {HOLD: HOLD_AUTOMATION.format(url=gate.url)})
        (project / "spec_script.py").write_text(spec_script(SPEC.read_text(encoding="utf-8"), repository), encoding="utf-8")
        env = prefect_env(prefect_server, base / "prefect-home")
        env.update(
            {
                "AUTOMATIONS_STATE_DIR": str(project / "var" / "automations"),
                "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true",  # the held action calls the test's 127.0.0.1 endpoint
                "PYTHONUNBUFFERED": "1",
                "SPEC_TEST_MARKER": marker,
            }
        )
        run = ScriptRun()
        proc = subprocess.Popen(
            [sys.executable, "spec_script.py"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        run.pid = proc.pid
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)  # type: ignore[arg-type]
        reader.start()
        try:
            with using_api(prefect_server):
                asyncio.run(_drive(proc, gate, run))
            run.returncode = proc.wait(timeout=SCRIPT_TIMEOUT_SECONDS)
        finally:
            if proc.poll() is None:
                proc.kill()  # only this process, by its PID: the script did not exit by itself
                proc.wait(timeout=30)
            reader.join(timeout=30)
            run.output = "".join(lines)
        deadline = time.monotonic() + 10  # children the script reaped may still be leaving the process table
        while (leftovers := _processes_with(marker)) and time.monotonic() < deadline:
            time.sleep(0.2)
        run.leftovers = leftovers
    return run


def test_the_spec_has_the_python_blocks_this_test_runs() -> None:
    blocks = spec_python_blocks(SPEC.read_text(encoding="utf-8"))
    assert len(blocks) == 5
    assert "get_trigger_engine" in blocks[0] and "/path/to/repo" in blocks[0]
    assert "scheduler.stop(graceful=True, timeout=30.0)" in blocks[-1]


def test_every_block_runs_and_the_script_exits_by_itself(script_run: ScriptRun) -> None:
    assert script_run.returncode == 0, script_run.output
    assert "Loaded 5 automations" in script_run.output, script_run.output
    assert "Execution status: completed" in script_run.output, script_run.output


def test_nothing_the_script_started_is_left_running(script_run: ScriptRun) -> None:
    assert script_run.leftovers == [], script_run.output


def test_the_published_chain_event_ran_the_matching_automation(script_run: ScriptRun, prefect_server: str) -> None:
    with using_api(prefect_server):
        runs = asyncio.run(runs_of_deployment("chain_completion_notification/chain_completion_notification"))
    ours = [
        r for r in runs
        if r.created >= script_run.started_at and (r.parameters.get("event") or {}).get("payload", {}).get("completed_steps") == 8
    ]
    assert len(ours) == 1, [(r.created, r.state) for r in runs]
    assert ours[0].state is not None and ours[0].state.name == "Completed", ours[0].state
    assert ours[0].state.message == "2/2 actions succeeded"


def test_graceful_stop_let_the_in_flight_run_complete(script_run: ScriptRun, prefect_server: str) -> None:
    assert script_run.held_run_id is not None, script_run.output
    assert [e.payload["in_flight"] for e in script_run.stopping] == [1], script_run.output
    with using_api(prefect_server):
        runs = asyncio.run(runs_of_deployment(f"{HOLD}/{HOLD}"))
        stopped = asyncio.run(wait_for(
            lambda: read_events("platform-god.scheduler.stopped", {"platform-god.pid": str(script_run.pid)}),
            bool, EVENT_PERSIST_SECONDS, interval=1.0,
        ))
    (held,) = [r for r in runs if str(r.id) == script_run.held_run_id]
    assert held.state is not None and held.state.name == "Completed", held.state
    assert [(e.payload["in_flight"], e.payload["crashed"]) for e in stopped] == [(1, [])]


def test_starting_the_trigger_engine_twice_starts_it_once(script_run: ScriptRun, prefect_server: str) -> None:
    with using_api(prefect_server):
        started = asyncio.run(wait_for(
            lambda: read_events("platform-god.trigger-engine.started", {"platform-god.pid": str(script_run.pid)}),
            bool, EVENT_PERSIST_SECONDS, interval=1.0,
        ))
    assert len(started) == 1, script_run.output
