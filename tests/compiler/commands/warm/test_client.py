"""The `run` side of warm runs: which commands it hands over, and that it steps aside whenever it cannot."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from compiler.commands.warm.client import is_run_command, run_warm
from compiler.commands.warm.protocol import recv_fds, recv_message, send_message


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "daily"], True),
        (["run", "daily", "--param", "a=1"], True),
        (["--config-dir", "x", "run", "daily"], True),
        (["--config-dir=x", "run", "daily"], True),
        (["run", "--help"], False),
        (["run", "daily", "-h"], False),
        (["runs", "daily"], False),
        (["validate"], False),
        (["--config-dir", "run"], False),
        ([], False),
    ],
)
def test_only_run_commands_are_handed_over(argv: list[str], expected: bool) -> None:
    assert is_run_command(argv) is expected


def _record(folder: Path, pid: int, socket_path: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "warm.json").write_text(json.dumps({"pid": pid, "socket": socket_path}))
    return folder


def test_no_recorded_runner_means_the_command_runs_itself(tmp_path: Path) -> None:
    assert run_warm(["run", "daily"], tmp_path) is None


def test_a_recorded_runner_that_is_gone_means_the_command_runs_itself(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    folder = _record(tmp_path / "prefect", int(gone.stdout), str(tmp_path / "warm.sock"))
    assert run_warm(["run", "daily"], folder) is None


def test_a_live_record_without_a_listening_socket_means_the_command_runs_itself(tmp_path: Path) -> None:
    folder = _record(tmp_path / "prefect", os.getpid(), str(tmp_path / "no-such.sock"))
    assert run_warm(["run", "daily"], folder) is None


def test_turned_off_it_does_not_even_connect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(tmp_path / "warm.sock"))
    listener.listen(1)
    folder = _record(tmp_path / "prefect", os.getpid(), str(tmp_path / "warm.sock"))
    monkeypatch.setenv("AUTOMATIONS_WARM_RUNS", "false")
    try:
        assert run_warm(["run", "daily"], folder) is None
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_a_record_whose_pid_now_belongs_to_another_process_is_not_a_runner(tmp_path: Path) -> None:
    from compiler.commands.warm.control import runner_status

    folder = _record(tmp_path / "prefect", os.getpid(), str(tmp_path / "warm.sock"))  # alive, but pytest
    assert runner_status(folder) is None


def _stand_in_runner(tmp_path: Path, answer: Callable[[socket.socket], None]) -> Path:
    """A listening socket that takes one request as the warm runner does (the caller's streams, then its message)
    and answers it with ``answer``; returns the record folder that points at it."""
    path = str(tmp_path / "warm.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            for fd in recv_fds(conn, 3):
                os.close(fd)
            recv_message(conn)
            answer(conn)

    threading.Thread(target=serve, daemon=True).start()
    return _record(tmp_path / "prefect", os.getpid(), path)


def test_a_runner_that_answers_after_the_connect_timeout_runs_it_and_the_caller_waits(tmp_path: Path) -> None:
    """A loaded machine: the runner's child checks the settings for seconds before the runner answers."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def late(conn: socket.socket) -> None:
        time.sleep(3.0)  # longer than the 2 s connect timeout
        send_message(conn, {"pid": child.pid})
        send_message(conn, {"exit": 7})

    try:
        assert run_warm(["run", "daily"], _stand_in_runner(tmp_path, late)) == 7  # not None: the caller must not run it too
    finally:
        child.kill()
        child.wait()


def test_a_runner_that_takes_the_request_and_never_answers_is_a_one_line_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def gone(conn: socket.socket) -> None:
        conn.close()

    assert run_warm(["run", "daily"], _stand_in_runner(tmp_path, gone)) == 1
    err = capsys.readouterr().err
    assert err.startswith("the warm runner took this run but did not answer") and err.count("\n") == 1
