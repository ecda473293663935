"""The warm runner: imports Prefect and the runtime once, then forks one child per `run` it is handed.

Why: a `run` process spends ~3 s importing Prefect, the runtime and, on its first flow call, FastAPI (Prefect
serializes flow parameters with it), before its ~1 s of actual run (benchmark P4: later runs 4.8 s median).
A child forked from this process starts with all of that imported. The child is the run, exactly as
`python -m compiler run` would be: it takes the caller's working directory, environment, import path and
standard streams (passed over the socket), runs the same command line, and its exit code is the caller's.

It serves only the project whose embedded local server it was started with (``var/prefect``), and declines,
so that the caller runs the command itself, whenever the child would not be the same as a fresh process:
another Python or import path, Prefect settings that differ from those it imported Prefect with, or code
changed since it started (it then stops). It stops with the embedded server, after
``AUTOMATIONS_WARM_IDLE_SECONDS`` (default 1800) without a run, and on SIGTERM (`server stop`), letting
running children finish.

    python -m compiler.commands.warm.host     # started by `run`, with the run's environment; not by hand
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import io
import json
import os
import select
import selectors
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from compiler.commands.warm.code_snapshot import CodeSnapshot
from compiler.commands.warm.preload import complete_pydantic_models, import_run_modules
from compiler.commands.warm.protocol import (
    CHECK_TIMEOUT_SECONDS,
    WarmRecord,
    read_record,
    record_path,
    recv_fds,
    recv_message,
    send_message,
    write_record,
)
from flows.local_server.process_records import pid_alive

__all__ = ["main"]

IDLE_ENV = "AUTOMATIONS_WARM_IDLE_SECONDS"
_TICK_SECONDS = 1.0
_REQUEST_TIMEOUT = 5.0
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


def _log(text: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} [{os.getpid()}] {text}\n")
    sys.stderr.flush()


@dataclass
class _Run:
    """A forked child and the caller waiting for its exit code."""

    pid: int
    pidfd: int  # readable when the child has exited
    done: int  # readable when the child reports its exit code (before Prefect's exit flush) or exits
    conn: socket.socket
    answered: bool = False


@dataclass
class _Job:
    """What a forked child runs: the caller's command line in the caller's place."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    path0: str
    fds: list[int]
    go: int  # pipe to the host: b"1" = running (later: the exit code), b"0" + reason = declined
    check_settings: bool  # False when a child already found Prefect's settings equal for the same inputs
    log: int = -1


@dataclass
class _Host:
    server_dir: Path
    server_pid: int
    listener: socket.socket
    socket_path: str
    lock: BinaryIO
    snapshot: CodeSnapshot
    idle_seconds: float
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    runs: dict[int, _Run] = field(default_factory=dict)
    settings_checked: set[str] = field(default_factory=set)
    stopping: str | None = None
    last_active: float = field(default_factory=time.monotonic)

    # ---------------------------------------------------------------------------------------- the loop
    def serve(self) -> _Job | None:
        """Until stopped (returns None), or in a forked child (returns its job)."""
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        while self.stopping is None or self.runs:
            if self.stopping is not None and self.listener.fileno() != -1:
                self._stop_listening()
            for key, _ in self.selector.select(_TICK_SECONDS):
                if key.data == "accept":
                    job = self._accept()
                    if job is not None:
                        return job
                elif isinstance(key.data, _Run):
                    self._on_ready(key.data, key.fileobj)
            self._check_lifetime()
        return None

    def _check_lifetime(self) -> None:
        if self.stopping is not None:
            return

        if not pid_alive(self.server_pid):
            self.stopping = f"the embedded server (pid {self.server_pid}) stopped"
        elif not self.runs and time.monotonic() - self.last_active > self.idle_seconds:
            self.stopping = f"idle for {self.idle_seconds:.0f}s"
        if self.stopping is not None:
            _log(f"stopping: {self.stopping}")

    def _stop_listening(self) -> None:
        """New callers find no runner (and run the command themselves) from now on."""
        self.selector.unregister(self.listener)
        self.listener.close()
        self._forget()

    def _forget(self) -> None:
        record = read_record(self.server_dir)
        if record is not None and record.pid == os.getpid():
            record_path(self.server_dir).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            os.unlink(self.socket_path)

    # ---------------------------------------------------------------------------------- one caller
    def _accept(self) -> _Job | None:
        conn, _ = self.listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(_REQUEST_TIMEOUT)
            if not _same_user(conn):
                conn.close()
                return None
            fds = recv_fds(conn, 3)
            request = recv_message(conn)
            reason = self._decline_reason(request)
            if reason is not None:
                _log(f"declined: {reason}")
                send_message(conn, {"declined": reason})
                conn.close()
                return None
            return self._fork(conn, request, fds)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _log(f"request refused: {exc}")
            conn.close()
            return None
        finally:
            if os.getpid() == _HOST_PID:
                for fd in fds:  # the child has its copies; ours would keep the caller's pipes open
                    os.close(fd)

    def _decline_reason(self, request: dict[str, Any]) -> str | None:
        if self.stopping is not None:
            return f"stopping ({self.stopping})"
        if request["executable"] != sys.executable:
            return f"another Python ({request['executable']})"
        if list(request["path"])[1:] != sys.path[1:]:
            return "another import path (PYTHONPATH or site-packages)"
        env = request["env"]
        differing = sorted(n for n in {*env, *os.environ} if _read_at_start(n) and env.get(n) != os.environ.get(n))
        if differing:
            return f"environment read when Python and Prefect start differs ({', '.join(differing)})"
        changed = self.snapshot.changed()
        if changed is not None:
            self.stopping = f"code changed since it started: {changed}"
            _log(f"stopping: {self.stopping}")
            return self.stopping
        if threading.active_count() != 1:
            return "the runner has threads; forking it would not be safe"
        return None

    def _fork(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> _Job | None:
        env, cwd = dict(request["env"]), str(request["cwd"])
        settings_key = _settings_inputs(env, cwd)
        read_end, write_end = os.pipe()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            self._leave_to_child(conn)
            check = settings_key not in self.settings_checked
            return _Job(list(request["argv"]), cwd, env, str(request["path"][0]), fds, write_end, check)
        os.close(write_end)
        answer = _first_answer(read_end, CHECK_TIMEOUT_SECONDS)
        if answer != b"1":
            os.close(read_end)
            reason = answer[1:].decode(errors="replace") or "the run did not start"
            _log(f"declined: {reason}")
            if answer[:1] != b"0":
                _kill(pid)
            os.waitpid(pid, 0)
            send_message(conn, {"declined": reason})
            conn.close()
            return None
        self.settings_checked.add(settings_key)
        run = _Run(pid, os.pidfd_open(pid), read_end, conn)
        self.runs[pid] = run
        for channel in (run.pidfd, run.done, conn):
            self.selector.register(channel, selectors.EVENT_READ, run)
        _log(f"pid {pid}: {' '.join(request['argv'])}")
        conn.settimeout(None)
        try:
            send_message(conn, {"pid": pid})
        except OSError:
            _kill(pid, signal.SIGTERM)  # the caller left before its run started; reaped when it exits
        return None

    def _on_ready(self, run: _Run, channel: Any) -> None:
        if not self._watching(run, channel):
            return  # handled earlier in the same batch (and the descriptor maybe reused since)
        if channel == run.pidfd:
            self._finished(run)
        elif channel == run.done:
            self._reported(run)
        else:
            self._caller_gone(run)

    def _reported(self, run: _Run) -> None:
        """The child's command returned: the caller gets its exit code now, not after Prefect's exit flush."""
        data = os.read(run.done, 64)
        self._close_done(run)
        if data.strip().lstrip(b"-").isdigit():
            self._answer(run, int(data))

    def _close_done(self, run: _Run) -> None:
        if run.done >= 0:
            self._drop(run, run.done)
            os.close(run.done)
            run.done = -1  # its number may be reused by the next run's pipe

    def _finished(self, run: _Run) -> None:
        _, status = os.waitpid(run.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code  # killed by a signal: what a shell reports
        self.runs.pop(run.pid, None)
        self._drop(run, run.pidfd)
        os.close(run.pidfd)
        self._close_done(run)
        self._answer(run, code)
        _log(f"pid {run.pid}: exited {code}")
        self.last_active = time.monotonic()

    def _answer(self, run: _Run, code: int) -> None:
        if run.answered:
            return
        run.answered = True
        self._drop(run, run.conn)
        with contextlib.suppress(OSError):
            send_message(run.conn, {"exit": code})
        run.conn.close()
        _log(f"pid {run.pid}: exit {code}")

    def _caller_gone(self, run: _Run) -> None:
        """The caller went away (killed): end its run, as the run would have ended with its process."""
        self._drop(run, run.conn)
        try:
            gone = not run.conn.recv(1, socket.MSG_PEEK)
        except OSError:
            gone = True
        if gone:
            _kill(run.pid, signal.SIGTERM)

    def _watching(self, run: _Run, channel: Any) -> bool:
        try:
            key = self.selector.get_map().get(channel)
        except ValueError:  # a socket closed since
            return False
        return key is not None and key.data is run

    def _drop(self, run: _Run, channel: Any) -> None:
        """Stop watching ``channel`` for ``run`` (a descriptor number another run reuses is left alone)."""
        if self._watching(run, channel):
            self.selector.unregister(channel)

    def _leave_to_child(self, conn: socket.socket) -> None:
        """In the child: drop everything that is the host's (its lock, socket, other callers)."""
        for run in self.runs.values():
            os.close(run.pidfd)
            if run.done >= 0:
                os.close(run.done)
            if not run.answered:
                run.conn.close()
        self.selector.close()
        self.listener.close()
        conn.close()
        self.lock.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        # Ctrl-C as in a `run` of its own: the caller forwards SIGINT only when its user pressed it. The runner may
        # have inherited SIGINT ignored (its first `run` started as a background job), and so ignored every
        # forwarded Ctrl-C: the caller waited for the whole run.
        signal.signal(signal.SIGINT, signal.default_int_handler)


_HOST_PID = 0


def _read_at_start(name: str) -> bool:
    """Variables a child cannot take from its caller: read by the interpreter at start-up (PYTHON*, the
    locale), or by Prefect when imported (its API CA file defaults to SSL_CERT_FILE; our shared TLS context
    was built from them). Prefect's own settings (PREFECT_*) are compared in the child instead."""
    return name.startswith(("PYTHON", "LC_")) or name in ("LANG", "SSL_CERT_FILE", "SSL_CERT_DIR")


def _same_user(conn: socket.socket) -> bool:
    """Only the user who started the runner may hand it a run (it runs with that user's rights)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid == os.getuid()


def _first_answer(fd: int, timeout: float) -> bytes:
    """b"1" (the run started; the pipe stays open for its exit code), or b"0" + the reason it was declined,
    or b"" when the child died or hung before answering."""
    if not select.select([fd], [], [], timeout)[0]:
        return b""
    first = os.read(fd, 1)
    if first != b"0":
        return first
    data = first
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def _kill(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


# ------------------------------------------------------------------------------------------ the child
def _become_run(job: _Job) -> list[str]:
    """In the child: take the caller's place; report b"1" once it is certain to run as a fresh process would."""
    job.log = os.dup(2)  # the runner's log, for what the run prints after answering its caller
    for target, fd in zip((0, 1, 2), job.fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(job.cwd)
    os.environ.clear()
    os.environ.update(job.env)
    time.tzset()  # the C library reads TZ once; a fresh process would have read the caller's
    # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); the warm host takes its lock first (P4), then loads the run's modules
    from compiler.language.settings import get_settings

    get_settings.cache_clear()  # read from the caller's environment, as a fresh process would
    sys.path[0] = job.path0
    sys.argv = [sys.argv[0], *job.argv]
    reason = _settings_differ(check=job.check_settings)
    if reason is not None:
        os.write(job.go, b"0" + reason.encode())
        os._exit(0)
    os.write(job.go, b"1")
    # The host's streams were a log file: block-buffered stdout, no colours. Now they are the caller's.
    if isinstance(sys.stdout, io.TextIOWrapper):  # always, unless a test replaced it
        sys.stdout.reconfigure(line_buffering=os.isatty(1))
    if os.isatty(2):
        # deferred: Prefect costs ~1 s CPU to import (measured); the warm host takes its lock first (P4), then loads the run's modules
        from prefect.logging.configuration import setup_logging

        setup_logging(incremental=False)  # Prefect's console handler picks its colours for the new stderr
    return job.argv


def _answer_caller(job: _Job, code: int) -> None:
    """The command returned: its output is written, its exit code is final. Tell the caller now and hand its
    streams back, so it need not wait for Prefect's exit flush (queued logs and events, ~0.15 s in P4), which
    this process still does; anything printed from here on goes to the runner's log."""
    sys.stdout.flush()
    sys.stderr.flush()
    with contextlib.suppress(BrokenPipeError):  # the runner is gone: its caller learnt that already
        os.write(job.go, str(code).encode())
    os.close(job.go)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(job.log, 1)
    os.dup2(job.log, 2)
    os.close(job.log)


def _settings_inputs(env: dict[str, str], cwd: str) -> str:
    """Everything Prefect's settings are read from: its environment variables and the files it reads (the
    profiles file, and ``.env``, ``prefect.toml`` and ``pyproject.toml`` in the working directory), by
    modification time. Equal inputs give equal settings, so one child's check answers for the next."""
    home = env.get("PREFECT_HOME") or os.path.join(env.get("HOME", "~"), ".prefect")
    files = [env.get("PREFECT_PROFILES_PATH") or os.path.join(home, "profiles.toml")]
    files += [os.path.join(cwd, name) for name in (".env", "prefect.toml", "pyproject.toml")]
    stamps = []
    for path in files:
        try:
            stat = os.stat(path)
            stamps.append((path, stat.st_mtime_ns, stat.st_size))
        except OSError:
            stamps.append((path, 0, -1))
    variables = sorted((k, v) for k, v in env.items() if k.startswith("PREFECT_") or k == "HOME")
    return json.dumps([variables, stamps, cwd])


def _settings_differ(check: bool = True) -> str | None:
    """Why Prefect, imported by the host, is not configured as a fresh `run` process here would configure it.

    Building Prefect's settings afresh costs ~50 ms; with ``check`` False (the same inputs were checked by
    an earlier child: ``_settings_inputs``) only the API address is resolved."""
    # deferred: it reads the Prefect profile (tomllib); the warm host takes its lock first (P4), then loads the run's modules
    from compiler.commands.api_endpoint import configured_api_url
    from compiler.commands.run import set_run_environment_defaults
    from flows.local_server.server import local_server_status

    url = configured_api_url()
    if url is None:
        server = local_server_status()
        if server is None:
            return "the embedded server is not running"
        url = server.api_url
    os.environ["PREFECT_API_URL"] = url
    set_run_environment_defaults()
    if not check:
        return None
    # deferred: Prefect costs ~1 s CPU to import (measured); the warm host takes its lock first (P4), then loads the run's modules
    from prefect.settings import Settings, get_current_settings

    fresh, imported = Settings().model_dump(), get_current_settings().model_dump()
    differing = sorted(k for k in fresh.keys() | imported.keys() if fresh.get(k) != imported.get(k))
    return f"Prefect settings differ from the runner's ({', '.join(differing)})" if differing else None


# ------------------------------------------------------------------------------------------ start-up
def _listen(server_dir: Path) -> tuple[socket.socket, str]:
    path = str(server_dir / "warm.sock")
    if len(path.encode()) > _SOCKET_PATH_MAX:
        path = str(Path(tempfile.mkdtemp(prefix="automations-warm-")) / "warm.sock")  # a 0700 folder
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)  # the socket is the user's alone from the moment it exists
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(16)
    return listener, path


def _build_every_flow() -> None:
    """What every child does first, done once here: validate the project's automations and build their flows
    (the validation models and Prefect's parameter-schema machinery are built on first use). No API call, no
    file written; the settings read on the way are forgotten, since a child reads its caller's."""
    # deferred: building flows imports Prefect, ~1 s CPU (measured); the warm host takes its lock first (P4), then loads the run's modules
    from compiler.commands.cli import build_parser
    from compiler.language.catalog import load_catalog
    from compiler.language.project import project_path
    from compiler.language.settings import get_settings
    from flows.engine.flow_factory import build_flow

    build_parser()  # imports every command's module
    catalog = load_catalog(project_path("configs/automations"))
    for loaded in catalog.automations.values():
        build_flow(loaded)
    get_settings.cache_clear()


def _take_lock(server_dir: Path) -> BinaryIO | None:
    """One runner per project: a second one started at the same moment leaves at once."""
    handle = open(server_dir / "warm.lock", "a+b")  # noqa: SIM115 - held for the runner's life
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _start(server_dir: Path) -> _Host | None:
    # deferred: the local server module costs ~110 ms (measured); the warm host takes its lock first (P4), then loads the run's modules
    from compiler.language.project import find_project_root
    from flows.local_server.server import local_server_status

    lock = _take_lock(server_dir)  # one runner per project: the lock decides, not the record
    if lock is None:
        _log("another warm runner serves this project")
        return None
    started = time.monotonic()
    import_run_modules()
    _build_every_flow()
    complete_pydantic_models()
    # deferred: Prefect costs ~1 s CPU to import (measured); the warm host takes its lock first (P4), then loads the run's modules
    from prefect.client.orchestration import get_client

    get_client()  # not used: building one builds the process's shared TLS context (flows/prefect_api/clients.py)
    # What is imported now is never garbage: the children's collector then never walks it (and never
    # writes to those pages, which stay shared with this process).
    gc.freeze()
    server = local_server_status(server_dir)
    if server is None or os.environ.get("PREFECT_API_URL") != server.api_url:
        _log("the embedded server is not running (or not the API this runner was started for)")
        lock.close()
        return None
    listener, path = _listen(server_dir)
    snapshot = CodeSnapshot.capture(find_project_root())
    idle = float(os.environ.get(IDLE_ENV) or 1800)
    host = _Host(server_dir, server.pid, listener, path, lock, snapshot, idle)
    write_record(server_dir, WarmRecord(os.getpid(), path))
    _log(f"ready in {time.monotonic() - started:.1f}s on {path} for {server.api_url}")
    return host


def main() -> int:
    global _HOST_PID
    _HOST_PID = os.getpid()
    # As compiler/__main__: registered first, so in a child it runs after Prefect's exit flushes.
    atexit.register(gc.freeze)
    # deferred: the local server module costs ~110 ms (measured); the warm host takes its lock first (P4), then loads the run's modules
    from flows.local_server.server import SERVER_DIR

    host = _start(SERVER_DIR)
    if host is None:
        return 0
    signal.signal(signal.SIGTERM, lambda *_: setattr(host, "stopping", host.stopping or "SIGTERM"))
    try:
        job = host.serve()
    finally:
        if os.getpid() == _HOST_PID:
            host._forget()
    if job is None:
        _log("stopped")
        return 0
    argv = _become_run(job)
    # in the forked child: the host imported the CLI before forking (_build_every_flow), so this is a lookup
    from compiler.commands.cli import main as cli_main

    code = cli_main(argv)
    _answer_caller(job, code)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
