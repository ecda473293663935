"""Shared helpers of the benchmark scripts: a local Prefect server, a recording HTTP server, medians, the result line.

Every script is run from the project root as ``python benchmarks/NAME.py``; none of them is collected by pytest
(no ``test_`` names, outside ``tests/``). Timings on a shared 2-core machine are noisy, so every figure is a
ratio or a median of repetitions measured side by side in one run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PREFECT_BIN = str(Path(sys.executable).with_name("prefect"))
HEALTH_TIMEOUT_SECONDS = 300.0  # a loaded 2-core machine took over 120 s
STOP_GRACE_SECONDS = 15.0

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


def say(text: str) -> None:
    """Progress on stderr, so the result stays the last line of stdout."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def result_line(bench_id: str, measure: str, figure: str, goal: str, passed: bool) -> str:
    """The last line every script prints: the figure, the goal, PASS/FAIL."""
    line = f"{bench_id} {measure}: {figure} (goal {goal}) {'PASS' if passed else 'FAIL'}"
    print(line, flush=True)
    return line


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))


# --------------------------------------------------------------------------------------------------
# A local Prefect server (SQLite, 127.0.0.1, temporary PREFECT_HOME), stopped by its PID


@dataclass
class PrefectServer:
    proc: subprocess.Popen[bytes]
    port: int
    home: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def client_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment of a process that talks to this server."""
        env = dict(os.environ if base is None else base)
        env.update(
            {
                "PREFECT_API_URL": self.api_url,
                "PREFECT_HOME": str(self.home / "client"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                # Run logs still go to the API; only the console copy (stderr) is quieted.
                "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
                "NO_COLOR": "1",
            }
        )
        return env


def start_prefect_server(home: Path) -> PrefectServer:
    """``prefect server start`` on a free port with ``home`` as PREFECT_HOME; returns when /health answers."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        }
    )
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [PREFECT_BIN, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = PrefectServer(proc, port, home)
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"prefect server exited with code {proc.returncode}; see {log_path}")
            try:
                if httpx.get(f"{server.api_url}/health", timeout=1.0).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server not healthy after {HEALTH_TIMEOUT_SECONDS:.0f} s; see {log_path}")
            time.sleep(0.25)
    except BaseException:
        stop_process(proc)
        raise


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> None:
    """``sig`` (default SIGTERM) to this process only, by its PID; SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_GRACE_SECONDS)


@contextmanager
def prefect_server(name: str) -> Iterator[PrefectServer]:
    """A server for the duration of the block; always stopped (by PID) at the end."""
    folder = temp_dir(name)
    home = folder / "prefect-home"
    say(f"starting a Prefect server (PREFECT_HOME={home}) ...")
    started = time.monotonic()
    try:
        server = start_prefect_server(home)
        say(f"Prefect server pid {server.pid} healthy at {server.api_url} after {time.monotonic() - started:.1f}s")
        try:
            yield server
        finally:
            stop_process(server.proc)
            say(f"stopped Prefect server pid {server.pid}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def use_server_in_process(server: PrefectServer, state_dir: Path) -> None:
    """Point this process (before Prefect is imported) at ``server``, with its own state folder."""
    os.environ.update(server.client_env())
    os.environ["AUTOMATIONS_STATE_DIR"] = str(state_dir)
    os.environ["AUTOMATIONS_HTTP_ALLOW_PRIVATE"] = "true"


# --------------------------------------------------------------------------------------------------
# A local HTTP server that records when each request arrived


@dataclass(frozen=True)
class Hit:
    path: str
    at: float  # time.time() when the request line was read
    body: bytes


class RecordingServer:
    """Threaded HTTP server on 127.0.0.1; every request is recorded with its arrival time and answered 200."""

    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _handle(self) -> None:
                at = time.time()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._arrived:
                    outer.hits.append(Hit(urlsplit(self.path).path, at, body))
                    outer._arrived.notify_all()
                if delay_seconds:
                    time.sleep(delay_seconds)
                data = json.dumps({"ok": True}).encode()
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="recording-http", daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self, prefix: str = "/") -> int:
        with self._lock:
            return sum(1 for h in self.hits if h.path.startswith(prefix))

    def wait_for(self, path: str, timeout: float) -> Hit | None:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for hit in self.hits:
                    if hit.path == path:
                        return hit
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._arrived.wait(left)


# --------------------------------------------------------------------------------------------------
# Events


def event_body(event_id: str, chain_name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """A platform-god chain_complete event in the form POST /api/events takes."""
    from datetime import datetime

    return {
        "id": event_id,
        "occurred": datetime.now(UTC).isoformat(),
        "event": "platform-god.chain.completed",
        "resource": {"prefect.resource.id": f"platform-god.chain.{chain_name}", "platform-god.chain-name": chain_name},
        "payload": payload or {"chain_name": chain_name, "status": "completed"},
    }


class HasClientEnv(Protocol):
    def client_env(self) -> dict[str, str]: ...


def start_serve(project: Path, server: HasClientEnv, log_path: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``python -m compiler serve`` in ``project`` against ``server`` (a PrefectServer here, or P7's cluster),
    with default signal handling and its own log."""
    env = server.client_env()
    env.update(
        {
            "AUTOMATIONS_STATE_DIR": str(project / "var" / "automations"),
            "AUTOMATIONS_CONFIG_DIR": str(project / "configs"),
            "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true",
            "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
    )
    env.update(extra_env or {})
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [PYTHON, "-m", "compiler", "serve"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_for_log(path: Path, text: str, proc: subprocess.Popen[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"'{text}' not seen in {path} within {timeout:.0f}s:\n{path.read_text(errors='replace')[-3000:]}")
