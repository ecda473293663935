"""A run whose process is killed ends Crashed, not Running: heartbeats + the zombie-run Prefect automation.

`python -m compiler run` sends a heartbeat every 30 s and makes sure the zombie-run automation exists on
its server; 90 s without a heartbeat or a state change, the server marks the run Crashed. This test waits
for that on the session's real server (about two minutes), so it is the only one of its kind.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

from compiler.commands.build.deployments import ZOMBIE_AFTER_SECONDS
from tests.flows.e2e_support import Runtime

# Heartbeat interval + the automation's window + the trigger service's evaluation period, with headroom
# for a loaded machine (measured: Crashed 98 s after the kill on a 2-core machine at load 12).
CRASH_DEADLINE_SECONDS = 30 + ZOMBIE_AFTER_SECONDS + 120


async def _runs_of(flow_name: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async with get_client() as client:
        return list(await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name]))))


def test_a_killed_run_process_leaves_its_run_crashed_with_the_reason(runtime: Runtime, tag: str) -> None:
    slow = f"/script/s600/{tag}/slow"
    name = runtime.write_automation(
        f"""
        name: killed_{tag}
        trigger:
          type: time
          time: {{cron_expression: "0 2 * * *"}}
        actions:
          - type: http_request
            name: hangs
            parameters: {{url: "{runtime.server.url}{slow}"}}
            timeout_seconds: 900
        """
    )
    proc = runtime.popen("run", name)
    try:
        runtime.server.wait_for(slow, 1, timeout=120)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    (run,) = asyncio.run(_runs_of(name))
    running_after_kill = run.state_type.value
    deadline = time.monotonic() + CRASH_DEADLINE_SECONDS
    while run.state_type.value == "RUNNING" and time.monotonic() < deadline:
        time.sleep(5)
        (run,) = asyncio.run(_runs_of(name))

    assert running_after_kill == "RUNNING"
    assert run.state_type.value == "CRASHED", run.state_name
    assert f"No heartbeat for {ZOMBIE_AFTER_SECONDS} s" in (run.state.message or "")
    assert "platform-god" in run.tags
