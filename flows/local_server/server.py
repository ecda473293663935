"""The embedded default: a local Prefect server (SQLite under ``var/``, 127.0.0.1 only) started on demand."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from compiler.language.project import project_path
from flows.local_server.process_records import pid_alive, read_process_record, write_process_record

__all__ = [
    "SERVER_DIR",
    "LocalServer",
    "LocalServerError",
    "StartingServer",
    "begin_local_server",
    "ensure_local_server",
    "free_port",
    "local_server_status",
    "spawn_server",
    "start_server",
    "stop_local_server",
]

# Under the project root found from the working directory (as git does): `run` from a subfolder reuses the server.
SERVER_DIR = project_path("var/prefect")


class LocalServerError(RuntimeError):
    """The embedded server did not start; the message names its log (a command prints it as its one line)."""


@dataclass(frozen=True)
class LocalServer:
    pid: int
    port: int
    home: str

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(api_url: str, timeout: float = 1.0, client: httpx.Client | None = None) -> bool:
    get = client.get if client is not None else httpx.get
    try:
        return get(f"{api_url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _state_file(home: Path) -> Path:
    return home / "server.json"


def local_server_status(home: Path = SERVER_DIR) -> LocalServer | None:
    """The recorded server if its process is alive and answers."""
    server = _recorded(home)
    if server is not None and pid_alive(server.pid) and healthy(server.api_url):
        return server
    return None


def start_server(home: Path, port: int | None = None, timeout: float = 90.0, ui: bool = True) -> LocalServer:
    """Start ``prefect server start`` on 127.0.0.1 with its own PREFECT_HOME; wait until healthy."""
    return spawn_server(home, port, ui).wait(timeout)


@dataclass
class StartingServer:
    """A server process that was started and may not answer yet: ``wait()`` until it is healthy.

    Its address is known at once, so a caller can point Prefect at it and import Prefect, load
    automations and build flows while the server starts (on a fresh checkout it answers after ~6–8 s here,
    most of it importing Prefect's server and registering block types; the caller's imports overlap them).
    """

    proc: subprocess.Popen[bytes] | None
    server: LocalServer

    @property
    def api_url(self) -> str:
        return self.server.api_url

    def wait(self, timeout: float = 90.0) -> LocalServer:
        """Until the server answers. ``proc`` is None for a server another process started (and recorded):
        then only its PID is watched, and it is never terminated from here."""
        proc, server, home = self.proc, self.server, Path(self.server.home)
        deadline = time.monotonic() + timeout
        # One client for every poll: each new one builds a TLS context (~30 ms of CPU, taken from the server
        # that starts on the other core: 10 polls a second).
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                if proc is not None and proc.poll() is not None:
                    raise LocalServerError(f"local Prefect server exited with code {proc.returncode}; see {home / 'server.log'}")
                if proc is None and not pid_alive(server.pid):
                    raise LocalServerError(f"local Prefect server (pid {server.pid}) exited while starting; see {home / 'server.log'}")
                if healthy(server.api_url, timeout=0.5, client=client):
                    if proc is not None:
                        _record(home, server)
                    return server
                time.sleep(0.1)
        if proc is not None:
            _terminate(proc.pid)
        raise LocalServerError(f"local Prefect server did not become healthy within {timeout:.0f}s; see {home / 'server.log'}")


def spawn_server(home: Path, port: int | None = None, ui: bool = True) -> StartingServer:
    """Start ``prefect server start`` on 127.0.0.1 with its own PREFECT_HOME; do not wait for it."""
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        # The UI is what users open to audit runs; tests and benchmarks start faster without it.
        "PREFECT_SERVER_UI_ENABLED": "true" if ui else "false",
    }
    log = open(home / "server.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        # `prefect server start`, a new database seeded first (flows/local_server/schema_snapshot.py: P4's first run 20.8 s → ~8 s).
        [sys.executable, "-m", "flows.local_server.process", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own group: outlives the CLI command; `server stop` ends it by PID
    )
    return StartingServer(proc, LocalServer(proc.pid, port, str(home)))


def ensure_local_server(home: Path = SERVER_DIR) -> LocalServer:
    """Reuse the running local server or start one (and wait ~6–8 s for it to answer)."""
    server = begin_local_server(home)
    return server.wait() if isinstance(server, StartingServer) else server


def begin_local_server(home: Path = SERVER_DIR) -> LocalServer | StartingServer:
    """The running local server, or one starting (call ``wait()`` on it before using the API).

    Race-free: the check and the start happen under an exclusive lock on ``home/server.lock``, and a
    started server is recorded at once (before it answers), so two first runs at the same moment share
    one server (and one SQLite file) instead of starting two.
    """
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    with _start_lock(home):
        recorded = _recorded(home)
        if recorded is not None and pid_alive(recorded.pid):
            if healthy(recorded.api_url):
                return recorded
            return StartingServer(None, recorded)  # started by another process, still booting
        starting = spawn_server(home)
        _record(home, starting.server)
        return starting


@contextmanager
def _start_lock(home: Path) -> Iterator[None]:
    """An exclusive ``flock`` (released by the kernel if this process dies, so it can never go stale)."""
    with open(home / "server.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _recorded(home: Path) -> LocalServer | None:
    return read_process_record(_state_file(home), LocalServer)


def _record(home: Path, server: LocalServer) -> None:
    write_process_record(_state_file(home), server)


def _terminate(pid: int, grace: float = 10.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            waited = 0
        if waited == pid or not pid_alive(pid):
            return
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def stop_local_server(home: Path = SERVER_DIR) -> LocalServer | None:
    """Stop the recorded server (by its PID) and forget it."""
    server = _recorded(home)
    if server is None:
        return None
    if pid_alive(server.pid):
        _terminate(server.pid)
    _state_file(home).unlink(missing_ok=True)
    return server
