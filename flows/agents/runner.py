"""Run an agent in a child process, so a deadline (or a cancelled task) really ends it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from flows.agents import AgentError, AgentNotFound, AgentRequest, get_agent

__all__ = ["AgentRunFailed", "child_main", "run_agent_isolated"]

_RESULT_MARK = "@@agent-result@@"


class AgentRunFailed(RuntimeError):
    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


async def run_agent_isolated(
    agent_name: str, repository_root: str, mode: str, options: dict[str, Any], deadline_seconds: float
) -> dict[str, Any]:
    """The agent's result as plain data; the child is killed when the deadline passes or the task is cancelled."""
    request = json.dumps({"agent_name": agent_name, "repository_root": repository_root, "mode": mode, "options": options})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "flows.agents.runner",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group: killing it ends anything the agent started too
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(request.encode()), timeout=deadline_seconds)
    except TimeoutError:
        _kill(proc)
        raise AgentRunFailed(f"agent {agent_name} did not finish within {deadline_seconds:g}s and was stopped", retryable=True) from None
    except BaseException:
        _kill(proc)  # cancelled (Prefect task timeout) or interrupted: never leave the child running
        raise
    for line in reversed(stdout.decode(errors="replace").splitlines()):
        if line.startswith(_RESULT_MARK):
            payload = json.loads(line[len(_RESULT_MARK):])
            if "error" in payload:
                raise AgentRunFailed(payload["error"], retryable=payload.get("retryable", False))
            return payload["result"]
    tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
    raise AgentRunFailed(f"agent {agent_name} exited with code {proc.returncode} and no result: {' | '.join(tail)}", retryable=True)


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def child_main() -> int:
    """Child side: read the request on stdin, run the agent, print one result line."""

    request = json.loads(sys.stdin.read())
    try:
        agent = get_agent(request["agent_name"])
        result = agent.run(AgentRequest(Path(request["repository_root"]), request["mode"], request.get("options") or {}))
        out: dict[str, Any] = {"result": result.to_dict()}
    except (AgentNotFound, AgentError, ValueError) as exc:
        out = {"error": str(exc), "retryable": False}
    except Exception as exc:  # noqa: BLE001 - a crashing plug-in is reported, not re-raised across processes
        out = {"error": f"agent {request['agent_name']} crashed: {type(exc).__name__}: {exc}", "retryable": True}
    sys.stdout.write(_RESULT_MARK + json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main())
