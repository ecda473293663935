"""The in-process executor behind ``serve``: an exact concurrency cap, and recovery of only the runs it owned.

Real flow runs of real deployments on the session's Prefect server; the flows here are plain Prefect flows
(the executor runs any flow), so the tests need no automation files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import uuid
from typing import Any
from uuid import UUID

import pytest
from prefect import flow, task

from flows.engine.executor import InProcessExecutor, crash_orphaned_runs, owner
from tests.prefect_support import using_api

_ACTIVE = {"now": 0, "peak": 0}


@flow(name="executor-probe", persist_result=False)
async def _probe(seconds: float = 0.5) -> None:
    _ACTIVE["now"] += 1
    _ACTIVE["peak"] = max(_ACTIVE["peak"], _ACTIVE["now"])
    try:
        await asyncio.sleep(seconds)
    finally:
        _ACTIVE["now"] -= 1


_STEPS: list[str] = []


@task
async def _step(name: str, seconds: float) -> None:
    _STEPS.append(name)
    await asyncio.sleep(seconds)


@flow(name="executor-two-steps", persist_result=False)
async def _two_steps() -> None:
    await _step("first", 3)
    await _step("second", 0)


async def _deployment(name: str, probe: Any = _probe) -> UUID:
    deployment = await probe.ato_deployment(name=name)
    return await deployment.aapply()


async def _runs(deployment_id: UUID, count: int, seconds: float = 0.5) -> list[Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return [
            await client.create_flow_run_from_deployment(deployment_id, parameters={"seconds": seconds}) for _ in range(count)
        ]


async def _once_completed(run_id: UUID, polls: int) -> Any:
    """The flow run once COMPLETED, or as it is after ``polls`` reads 0.1 s apart."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        for _ in range(polls):
            current = await client.read_flow_run(run_id)
            if current.state_type.value == "COMPLETED":
                break
            await asyncio.sleep(0.1)
    return current


@pytest.fixture
def api(prefect_server: str) -> Any:
    with using_api(prefect_server):
        yield prefect_server


def test_never_more_runs_at_once_than_the_cap(api: str) -> None:
    async def scenario() -> tuple[int, list[str]]:
        deployment_id = await _deployment(f"cap-{uuid.uuid4().hex[:8]}")
        # Long enough that runs overlap whatever the engine's start-up costs on a loaded machine.
        created = await _runs(deployment_id, 7, seconds=4)
        executor = InProcessExecutor({deployment_id: _probe}, poll_seconds=0.05, max_concurrent=3)
        stop = asyncio.Event()
        serving = asyncio.create_task(executor.run(stop))
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            for _ in range(600):
                states = [(await client.read_flow_run(r.id)).state_type.value for r in created]
                if all(s == "COMPLETED" for s in states):
                    break
                await asyncio.sleep(0.1)
        stop.set()
        await serving
        await executor.drain(5)
        return _ACTIVE["peak"], states

    _ACTIVE.update(now=0, peak=0)
    peak, states = asyncio.run(scenario())

    assert states == ["COMPLETED"] * 7
    assert peak == 3


def test_a_claimed_run_names_its_executor(api: str) -> None:
    async def scenario() -> str | None:
        deployment_id = await _deployment(f"owner-{uuid.uuid4().hex[:8]}")
        (run,) = await _runs(deployment_id, 1)
        executor = InProcessExecutor({deployment_id: _probe}, poll_seconds=0.05)
        stop = asyncio.Event()
        serving = asyncio.create_task(executor.run(stop))
        current = await _once_completed(run.id, polls=600)
        stop.set()
        await serving
        return current.infrastructure_pid

    assert asyncio.run(scenario()) == owner()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# (infrastructure_pid of a RUNNING run, crashed by the next serve on this machine?)
OWNERS = [
    ("this host, dead process", True),
    ("this host, living process", False),
    ("another machine", False),
    ("no owner recorded", False),
]


def _owner_value(kind: str, living: subprocess.Popen[bytes]) -> str | None:
    host = socket.gethostname()
    return {
        "this host, dead process": f"{host}:{_dead_pid()}",
        "this host, living process": f"{host}:{living.pid}",
        "another machine": "worker-7.internal:4242",
        "no owner recorded": None,
    }[kind]


@pytest.mark.parametrize(("kind", "crashed"), OWNERS, ids=[k for k, _ in OWNERS])
def test_serve_recovers_only_runs_whose_owner_it_sees_dead(api: str, kind: str, crashed: bool) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Pending, Running

    living = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])

    async def scenario() -> str:
        deployment_id = await _deployment(f"orphan-{uuid.uuid4().hex[:8]}")
        (run,) = await _runs(deployment_id, 1)
        async with get_client() as client:
            await client.set_flow_run_state(run.id, Pending(), force=True)
            await client.set_flow_run_state(run.id, Running(), force=True)
            value = _owner_value(kind, living)
            if value is not None:
                await client.update_flow_run(run.id, infrastructure_pid=value)
            await crash_orphaned_runs([deployment_id])
            return (await client.read_flow_run(run.id)).state_type.value

    try:
        state = asyncio.run(scenario())
    finally:
        living.kill()
        living.wait()

    assert state == ("CRASHED" if crashed else "RUNNING")
    assert os.getpid() != living.pid


def test_a_new_run_is_taken_when_announced_not_at_the_next_poll(api: str) -> None:
    """With a poll every 10 minutes, only the server's announcement (its events stream) can start the run."""

    async def scenario() -> str:
        deployment_id = await _deployment(f"announced-{uuid.uuid4().hex[:8]}")
        executor = InProcessExecutor({deployment_id: _probe}, poll_seconds=600)
        stop = asyncio.Event()
        serving = asyncio.create_task(executor.run(stop))
        await asyncio.wait_for(executor.listening.wait(), timeout=120)
        (run,) = await _runs(deployment_id, 1, seconds=0)
        current = await _once_completed(run.id, polls=1200)
        stop.set()
        await serving
        await executor.drain(5)
        return current.state_type.value

    assert asyncio.run(scenario()) == "COMPLETED"


@pytest.mark.parametrize("shared", [True, False], ids=["in a session", "without a session"])
def test_a_run_suspended_from_outside_stops_before_its_next_task(api: str, shared: bool) -> None:
    """Suspended through the API alone (as another process or Prefect's suspend action does): the run's
    process learns it from the events stream, through the session's one observer or Prefect's own."""
    from prefect.client.orchestration import get_client
    from prefect.states import Suspended

    async def scenario() -> tuple[list[str], str, str | None]:
        deployment_id = await _deployment(f"suspend-{uuid.uuid4().hex[:8]}", _two_steps)
        async with get_client() as client:
            run = await client.create_flow_run_from_deployment(deployment_id)
            executor = InProcessExecutor({deployment_id: _two_steps}, poll_seconds=0.05)
            stop = asyncio.Event()
            session = executor.session() if shared else contextlib.nullcontext()
            async with session:
                serving = asyncio.create_task(executor.run(stop))
                for _ in range(600):
                    if "first" in _STEPS:
                        break
                    await asyncio.sleep(0.05)
                await client.set_flow_run_state(run.id, Suspended(pause_key=f"outside-{uuid.uuid4().hex}"))
                for _ in range(600):
                    await asyncio.sleep(0.1)
                    if executor.in_flight == 0:
                        break
                stop.set()
                await serving
                await executor.drain(5)
            final = (await client.read_flow_run(run.id)).state
        return list(_STEPS), final.type.value, final.name

    _STEPS.clear()
    steps, state_type, state_name = asyncio.run(scenario())

    assert (steps, state_type, state_name) == (["first"], "PAUSED", "Suspended")
