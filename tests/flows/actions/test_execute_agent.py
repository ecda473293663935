"""execute_agent end to end: the agent runs in a child process; a deadline shorter than the agent's work ends
the action TimedOut and kills the child; a normal run returns the agent's result."""

from __future__ import annotations

import time
from pathlib import Path

from tests.flows.actions._shared import automation
from tests.flows.agents.repo_builders import write_tree
from tests.flows.e2e_support import Runtime

_PADDING = "value = compute(alpha, beta, gamma)  # padding line for the scan\n" * 40


def _large_repository(root: Path, packages: int = 50, modules: int = 100) -> Path:
    """~5,000 files of 2.6 KB: PG_SECURITY_SCAN needs ~1.5–3 s on it (measured on 2 cores)."""
    return write_tree(root, {f"pkg{p}/m{m}.py": _PADDING for p in range(packages) for m in range(modules)})


def _agent_children(state_dir: Path) -> list[int]:
    """PIDs of `python -m flows.agents.runner` processes started for this test (found by their environment)."""
    marker = f"AUTOMATIONS_STATE_DIR={state_dir}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"flows.agents.runner" in cmdline and marker in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


def test_agent_slower_than_its_timeout_ends_timed_out_and_is_killed(runtime: Runtime, tmp_path: Path) -> None:
    repo = _large_repository(tmp_path / "big")
    runtime.write_automation(
        automation(
            "slow_agent",
            f"""
            - type: execute_agent
              name: scan
              parameters:
                agent_name: PG_SECURITY_SCAN
                repository_root: "{repo}"
              timeout_seconds: 0.5
            """,
        )
    )
    started = time.monotonic()
    state = runtime.run("slow_agent")
    elapsed = time.monotonic() - started
    action = runtime.actions(state)["scan"]

    assert state.is_failed()
    assert action.status == "TimedOut", action.message
    assert action.duration_s < 1.5
    assert elapsed < 10
    assert _agent_children(runtime.state_dir) == []  # the child was stopped, not left scanning


def test_agent_result_is_the_action_output(runtime: Runtime, tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "small", {"README.md": "# small\n", "app/main.py": "print('hi')\n"})
    runtime.write_automation(
        automation(
            "quick_agent",
            f"""
            - type: execute_agent
              name: discover
              parameters:
                agent_name: PG_DISCOVERY
                repository_root: "{repo}"
              timeout_seconds: 60
            - type: log_message
              name: report
              parameters:
                message: "discovery said {{outputs.discover.summary}}"
            """,
        )
    )
    state = runtime.run("quick_agent")
    actions = runtime.actions(state)

    assert state.is_completed(), state.message
    assert actions["discover"].status == "Completed"
    assert actions["report"].summary.startswith("message=discovery said ")
