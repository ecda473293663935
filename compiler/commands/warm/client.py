"""The `run` side: hand the command to a warm runner when one serves this project, else say so (None)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from compiler.commands.warm.protocol import ANSWER_TIMEOUT_SECONDS, disabled, read_record, recv_message, send_fds, send_message
from compiler.language.project import project_path
from flows.local_server.process_records import pid_alive

__all__ = ["is_run_command", "run_warm"]

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_CONNECT_TIMEOUT = 2.0


def is_run_command(argv: Sequence[str]) -> bool:
    """``run …`` with nothing but ``--config-dir`` before it (help goes the normal way)."""
    args = list(argv)
    while args and args[0].startswith("--config-dir"):
        args = args[1:] if "=" in args[0] else args[2:]
    return bool(args) and args[0] == "run" and not {"-h", "--help"} & set(args)


def run_warm(argv: Sequence[str], server_dir: Path | None = None) -> int | None:
    """The exit code of ``python -m compiler ARGV`` run by the project's warm runner; None when there is
    none or it declines (other Prefect settings, changed code): the caller then runs the command itself."""
    if disabled(os.environ) or not is_run_command(argv):
        return None
    record = read_record(server_dir or project_path("var/prefect"))
    if record is None or not pid_alive(record.pid):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(_CONNECT_TIMEOUT)
        sock.connect(record.socket)
        send_fds(sock, [0, 1, 2])
        send_message(
            sock,
            {"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ), "executable": sys.executable, "path": sys.path},
        )
    except OSError:
        sock.close()
        return None  # no runner listening (stale record, bad descriptors): nothing was run
    try:
        # The request is the runner's now: only its answer says whether it runs it. It answers once its child has
        # checked the settings (seconds on a loaded machine). Giving up after the 2 s connect timeout and running here
        # as well could start one `run` twice: the runner's child may have started it by then.
        sock.settimeout(ANSWER_TIMEOUT_SECONDS)
        reply = recv_message(sock)
        if "pid" not in reply:
            return None  # declined: nothing was run
        sock.settimeout(None)
        return _wait_for(sock, int(reply["pid"]))
    except (OSError, ValueError) as exc:
        sys.stderr.write(
            f"the warm runner took this run but did not answer ({type(exc).__name__}); it was not run here in case it runs "
            "there: see var/prefect/warm.log, or stop the runner with `python -m compiler server stop`\n"
        )
        return 1
    finally:
        sock.close()


def _wait_for(sock: socket.socket, child: int) -> int:
    """Forward Ctrl-C and termination to the run, as if it were this process; return its exit code."""

    def forward(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        while True:
            try:
                return int(recv_message(sock)["exit"])
            except InterruptedError:
                continue
            except (ConnectionError, KeyError, ValueError):
                sys.stderr.write("the warm runner stopped before the run finished; see var/prefect/warm.log\n")
                return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
