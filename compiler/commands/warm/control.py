"""Start, stop and report the project's warm runner (used by `run` and `server`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from compiler.commands.warm.protocol import WarmRecord, disabled, read_record, record_path
from compiler.language.project import find_project_root
from flows.local_server.process_records import pid_alive

__all__ = ["runner_status", "start_runner", "stop_runner", "supported"]


def supported() -> bool:
    """The runner watches its children through pidfds and checks callers with SO_PEERCRED: Linux only."""
    return hasattr(os, "pidfd_open") and hasattr(socket, "SO_PEERCRED")


def runner_status(server_dir: Path) -> WarmRecord | None:
    """The recorded runner while its process runs; a record left by a killed runner whose pid another
    process reuses since is not it (that process is never signalled)."""
    record = read_record(server_dir)
    return record if record is not None and pid_alive(record.pid) and _is_runner(record.pid) else None


def _is_runner(pid: int) -> bool:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"compiler.commands.warm.host" in command


def start_runner(server_dir: Path) -> int | None:
    """Start a warm runner for this project in the background (its pid), unless one runs or it is turned off.

    It inherits this process's environment, which at this point points Prefect at the embedded server."""
    if disabled(os.environ) or not supported() or runner_status(server_dir) is not None:
        return None
    log = open(server_dir / "warm.log", "ab")  # noqa: SIM115 - handed to the child process
    with log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "compiler.commands.warm.host"],
            cwd=find_project_root(),
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; `server stop` ends it by its pid
        )
    return proc.pid


def stop_runner(server_dir: Path, grace: float = 30.0) -> WarmRecord | None:
    """SIGTERM the runner (it lets running children finish), then SIGKILL after ``grace`` seconds."""
    record = runner_status(server_dir)
    if record is None:
        record_path(server_dir).unlink(missing_ok=True)
        return None
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return record
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pid_alive(record.pid):
        time.sleep(0.05)
    if pid_alive(record.pid):
        os.kill(record.pid, signal.SIGKILL)
    return record
