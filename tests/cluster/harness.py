"""A production-shaped cluster on 127.0.0.1 for tests and benchmarks P7 / P7-HA: PostgreSQL, Redis, a Prefect server
on PostgreSQL, the project deployed with ``python -m compiler deploy``, and N ``prefect worker start`` processes.

With ``api_servers`` > 1 it is Prefect's high-availability topology as README "Running at scale" starts it: the
database migrated once, N ``prefect server start --no-services`` API servers on Redis messaging started one
after the other, one ``prefect server services start``, and optionally HAProxy in front with health checks.

Everything is a real process this module starts (default signal handling, own session) and stops by PID,
SIGKILL after a grace period. No pytest here: ``tests/cluster/conftest.py`` and ``benchmarks/p7_cluster.py``
both drive it. The API is read over plain HTTP (``httpx``) so a caller need not import Prefect.

PostgreSQL refuses to run as root: as root the server runs as the ``postgres`` user the Debian package
creates, in a data folder under /tmp that user owns (pytest's temp folders are private to root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.prefect_support import ROOT, make_project

__all__ = [
    "INSTALL_SCRIPT",
    "Cluster",
    "ClusterError",
    "HAProxy",
    "Postgres",
    "PrefectServer",
    "Redis",
    "Service",
    "Worker",
    "custom_event",
    "descendants",
    "event_parameter",
    "free_port",
    "ha_server_environment",
    "install_services",
    "migrate_database",
    "missing_services",
    "new_id",
    "post_events",
    "postgres_bin_dir",
    "start_haproxy",
    "start_postgres",
    "start_prefect_server",
    "start_redis",
    "start_services",
    "state_name",
    "state_type",
]

INSTALL_SCRIPT = ROOT / ".ci" / "install-services"
PYTHON = sys.executable
PREFECT_BIN = str(Path(sys.executable).with_name("prefect"))
WORK_POOL = "automations"
STOP_GRACE_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 120.0  # a fresh PostgreSQL database migrates first (~6 s measured); CI gets headroom
# `prefect server services start` imports and starts every service before it reads events: 20-25 s measured,
# over 120 s on a 2-core machine running other test suites.
SERVICES_READY_TIMEOUT_SECONDS = 300.0
DEPLOY_TIMEOUT_SECONDS = 600.0
TERMINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})
# The worker poll interval (Prefect's default is 10 s, which alone makes event -> action take ~10 s).
# 1 s: event -> first action ~3 s (benchmark P7) for 2 small API queries a second per worker.
DEFAULT_WORKER_QUERY_SECONDS = 1.0
# Flow-run processes per worker. On 2 cores more only adds contention, and a starved flow process misses
# its heartbeats (seen at --limit 4 with a busy machine: the zombie automation fired for live runs).
DEFAULT_WORKER_LIMIT = 2


class ClusterError(RuntimeError):
    """A cluster part did not start or a command failed; the message carries the log tail."""


# --------------------------------------------------------------------------------------------------
# Installation


def postgres_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL bin folder (``/usr/lib/postgresql/<major>/bin``) with initdb and postgres."""
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists() and (p / "postgres").exists()]
    candidates.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return candidates[-1] if candidates else None


def missing_services() -> list[str]:
    """Debian packages the cluster needs that are not installed."""
    missing = []
    if postgres_bin_dir() is None:
        missing.append("postgresql")
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if shutil.which("haproxy") is None:
        missing.append("haproxy")
    return missing


def install_services() -> str:
    """Run the project's install step (``.ci/install-services``, apt-get as root); its output."""
    completed = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900, check=False
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise ClusterError(f"{INSTALL_SCRIPT} failed (exit {completed.returncode}):\n{output[-3000:]}")
    return output


# --------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _parent_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (children first). Flow-run processes of a worker are in their own
    session, so a process-group signal would miss them; the parent links do not."""
    children = _parent_map()
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _kill(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class Service:
    """One started process with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM
    spawn_args: dict[str, Any] = field(default_factory=dict, repr=False)  # what ``respawn`` starts again

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """``stop_signal`` to the process by PID; SIGKILL to it and every process it left behind after ``grace``."""
        tree = descendants(self.pid)
        if self.proc.poll() is None:
            _kill([self.pid], self.stop_signal)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _kill([self.pid], signal.SIGKILL)
                self.proc.wait(timeout=grace)
        _kill([pid for pid in tree if _alive(pid)], signal.SIGKILL)

    def kill(self) -> list[int]:
        """SIGKILL the process and everything below it at once (a machine dying); the PIDs killed."""
        tree = [self.pid, *descendants(self.pid)]
        _kill(tree, signal.SIGKILL)
        self.proc.wait(timeout=STOP_GRACE_SECONDS)
        return tree

    def respawn(self) -> None:
        """The same command again (same arguments, environment, folder, user, log), once this one has ended."""
        if self.running():
            raise ClusterError(f"{self.name} (PID {self.pid}) is still running")
        self.proc = _spawn(self.name, log=self.log, stop_signal=self.stop_signal, **self.spawn_args).proc


def _spawn(name: str, command: list[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None,
           user: str | None = None, stop_signal: int = signal.SIGTERM) -> Service:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Own session: default signal handling (a worker started from a non-interactive shell would
            # otherwise ignore SIGINT and SIGTERM) and no signal from the test runner's terminal.
            start_new_session=True,
            user=user,
            group=user,
        )
    return Service(name, proc, log, stop_signal, {"command": command, "env": env, "cwd": cwd, "user": user})


def _wait_until(service: Service, ready: Any, what: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not service.running():
            raise ClusterError(f"{service.name} exited with code {service.proc.returncode} before {what}:\n{service.log_tail()}")
        if ready():
            return
        if time.monotonic() > deadline:
            service.stop()
            raise ClusterError(f"{service.name}: not {what} within {timeout:.0f} s:\n{service.log_tail()}")
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------------
# PostgreSQL, Redis, Prefect server


@dataclass
class Postgres:
    service: Service
    port: int
    data_root: Path  # under /tmp, owned by the server's user; removed at stop

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        self.service.stop()
        shutil.rmtree(self.data_root, ignore_errors=True)


def start_postgres(log_dir: Path) -> Postgres:
    """A throwaway PostgreSQL server on a free 127.0.0.1 port (trust auth, user ``postgres``, no fsync)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise ClusterError(f"PostgreSQL is not installed; run {INSTALL_SCRIPT} as root")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="automations-pg-"))
    data = root / "data"
    data.mkdir()
    if user:
        entry = pwd.getpwnam(user)
        for path in (root, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    init = subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, user=user, group=user, timeout=300, cwd=root, check=False,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise ClusterError(f"initdb failed (exit {init.returncode}):\n{init.stdout}{init.stderr}")
    port = free_port()
    service = _spawn(
        "postgres",
        [
            str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={data}",
            # A database that lives for one test session: durability buys nothing, fsync costs time.
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ],
        log_dir / "postgres.log",
        cwd=root,
        user=user,
        stop_signal=signal.SIGINT,  # "fast" shutdown; SIGTERM would wait for every client to disconnect
    )
    postgres = Postgres(service, port, root)
    isready = [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
    try:
        _wait_until(service, lambda: subprocess.run(isready, stdin=subprocess.DEVNULL, check=False).returncode == 0, "accepting connections")
    except BaseException:
        postgres.stop()
        raise
    return postgres


@dataclass
class Redis:
    service: Service
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.service.stop()


def start_redis(folder: Path) -> Redis:
    """``redis-server`` on a free 127.0.0.1 port, nothing persisted."""
    import redis

    server = shutil.which("redis-server")
    if server is None:
        raise ClusterError(f"redis-server is not installed; run {INSTALL_SCRIPT} as root")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    service = _spawn(
        "redis",
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        folder / "redis.log",
    )

    def pong() -> bool:
        try:
            return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    _wait_until(service, pong, "answering PING")
    return Redis(service, port)


def healthy(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def ha_server_environment(redis_url: str) -> dict[str, str]:
    """What every Prefect server process of the HA topology (API servers and services) needs besides its
    database URL: Redis for messaging, event ordering, concurrency leases and Docket, no migration at start
    (Prefect's "Scale self-hosted Prefect" guide; README "Running at scale", step 2)."""
    base = redis_url.rsplit("/", 1)[0]
    return {
        "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_URL": f"{base}/0",
        # prefect-redis holds up to 5 received events for up to 10 s before it writes them to Redis, while the
        # sender's events client already counts them as delivered: an API server killed then loses them.
        "PREFECT_REDIS_MESSAGING_PUBLISHER_BATCH_SIZE": "1",
        "PREFECT_SERVER_DOCKET_URL": f"{base}/1",
    }


def _server_env(home: Path, database_url: str, api_port: int | None, extra_env: Mapping[str, str] | None) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        **(extra_env or {}),
    }
    if api_port is not None:
        env["PREFECT_API_URL"] = f"http://127.0.0.1:{api_port}/api"
    return env


@dataclass
class PrefectServer:
    service: Service
    port: int
    home: Path

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def stop(self) -> None:
        self.service.stop()


def migrate_database(home: Path, database_url: str, extra_env: Mapping[str, str] | None = None) -> str:
    """``prefect server database upgrade -y``: the HA topology migrates once, before any server starts."""
    home.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [PREFECT_BIN, "server", "database", "upgrade", "-y"],
        env=_server_env(home, database_url, None, extra_env), check=False,  # its exit code is reported below
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=DEPLOY_TIMEOUT_SECONDS,
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise ClusterError(f"prefect server database upgrade failed (exit {completed.returncode}):\n{output[-3000:]}")
    return output


def start_prefect_server(
    home: Path,
    database_url: str,
    extra_env: Mapping[str, str] | None = None,
    *,
    services: bool = True,
    port: int | None = None,
    name: str = "prefect-server",
) -> PrefectServer:
    """``prefect server start`` on 127.0.0.1 with its database on ``database_url``; returns when /health answers.
    ``services=False``: ``--no-services`` (an API server of the HA topology); ``port``: a restart on the same port."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    command = [PREFECT_BIN, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    if not services:
        command.append("--no-services")
    service = _spawn(name, command, home / "server.log", env=_server_env(home, database_url, port, extra_env))
    server = PrefectServer(service, port, home)
    _wait_until(service, lambda: healthy(server.api_url), "healthy")
    return server


def start_services(home: Path, database_url: str, extra_env: Mapping[str, str]) -> Service:
    """``prefect server services start``: the background services (scheduler, triggers, …) in one process;
    returns once its triggers service reads the Redis event stream."""
    import redis

    home.mkdir(parents=True, exist_ok=True)
    service = _spawn(
        "prefect-services",
        [PREFECT_BIN, "server", "services", "start"],
        home / "services.log",
        env=_server_env(home, database_url, None, extra_env),
    )
    client = redis.Redis.from_url(extra_env["PREFECT_REDIS_MESSAGING_URL"], socket_timeout=2)

    def reading_events() -> bool:
        # The reactive triggers consume the "events" stream through a consumer group of their own; an event
        # posted before that group exists would never reach them.
        try:
            return any(b"trigger" in g["name"] for g in client.xinfo_groups("events"))
        except redis.RedisError:
            return False

    try:
        _wait_until(service, reading_events, "consuming events", SERVICES_READY_TIMEOUT_SECONDS)
    finally:
        client.close()
    return service


@dataclass
class HAProxy:
    service: Service
    port: int
    config: Path

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def stop(self) -> None:
        self.service.stop()


def haproxy_config(port: int, backends: Iterable[int]) -> str:
    """The load balancer of README "Running at scale" (same lines), on 127.0.0.1 ports."""
    servers = "".join(f"    server api-{i + 1} 127.0.0.1:{p} check\n" for i, p in enumerate(backends))
    return (
        "global\n"
        "    log stdout format raw local0\n"
        "defaults\n"
        "    mode http\n"
        "    log global\n"
        "    option httplog\n"
        "    timeout connect 5s\n"
        "    timeout client 5m\n"
        "    timeout server 5m\n"
        "    timeout tunnel 1h\n"
        "    retries 3\n"
        "    option redispatch 1\n"
        "frontend prefect\n"
        f"    bind 127.0.0.1:{port}\n"
        "    default_backend prefect_api\n"
        "backend prefect_api\n"
        "    balance roundrobin\n"
        "    option httpchk GET /api/health\n"
        "    http-check expect status 200\n"
        "    default-server inter 2s fall 2 rise 1\n"
        f"{servers}"
    )


def start_haproxy(folder: Path, backends: Iterable[int]) -> HAProxy:
    """HAProxy on a free 127.0.0.1 port in front of the API servers on ``backends``; returns once it routes."""
    binary = shutil.which("haproxy")
    if binary is None:
        raise ClusterError(f"haproxy is not installed; run {INSTALL_SCRIPT} as root")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(port, backends), encoding="utf-8")
    service = _spawn("haproxy", [binary, "-f", str(config)], folder / "haproxy.log", cwd=folder)
    balancer = HAProxy(service, port, config)
    _wait_until(service, lambda: healthy(balancer.api_url), "routing to a healthy API server")
    return balancer


# --------------------------------------------------------------------------------------------------
# Events and runs over the REST API


def custom_event(custom_type: str, payload: Mapping[str, Any], event_id: str | None = None) -> dict[str, Any]:
    """A Platform God custom event, in the form ``POST /api/events`` takes (names and labels from flows.events.publish)."""
    from flows.events.publish import build_event

    built = build_event("custom", {"custom_type": custom_type}, payload)
    return {
        "id": event_id or built.id,
        "occurred": datetime.now(UTC).isoformat(),
        "event": built.event,
        "resource": built.resource,
        "payload": built.payload,
    }


def event_parameter(event: Mapping[str, Any]) -> dict[str, Any]:
    """The ``event`` flow parameter a deployment trigger passes for ``event`` (compiler.commands.build's template)."""
    return {key: event[key] for key in ("id", "event", "occurred", "resource", "payload")}


def post_events(api_url: str, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 50):
        response = httpx.post(f"{api_url}/events", json=events[start : start + 50], timeout=60)
        if response.status_code != 204:
            raise ClusterError(f"POST /events answered {response.status_code}: {response.text}")


# --------------------------------------------------------------------------------------------------
# The cluster


@dataclass
class Worker:
    index: int
    name: str
    state_dir: Path
    home: Path
    service: Service | None = None

    @property
    def registry_url(self) -> str:
        return f"sqlite:///{self.state_dir / 'registry' / 'registry.db'}"


@dataclass
class Cluster:
    """PostgreSQL + Redis + Prefect server + the project (``automations``: name → YAML body without ``name:``)
    deployed with ``python -m compiler deploy`` + ``workers`` process workers with separate state folders.

    As the README's "Running at scale" says, the settings every flow-run process needs travel with the
    deployments (``configs/deploy.yaml`` → ``job_variables.env``, see ``job_env``); a worker's own
    environment holds only what belongs to its machine (API URL, poll interval, state folder) plus
    ``worker_env``.
    ``shared_results``: a LocalFileSystem block (``local-file-system/cluster-results``) used as
    AUTOMATIONS_RESULT_STORAGE, as workers on several machines would share a bucket.
    ``redis_locks``: AUTOMATIONS_LOCK_URL is this cluster's Redis (exactly-once across workers).
    ``engine_command``: the work pool's flow-run command is ``python -m prefect.engine`` (see
    ``set_pool_command``: one Python start-up per run instead of two).

    The HA topology (``api_servers`` > 1, or ``services_apart``): the database migrated once, ``api_servers``
    ``prefect server start --no-services`` on Redis messaging (``ha_server_environment``) started one after
    the other, one ``prefect server services start``; ``load_balancer``: HAProxy in front of them, and
    ``api_url`` is the balancer's. ``worker_servers``: worker index → index of the API server that worker (and
    so its flow-run processes) talks to directly; the others use ``api_url`` (an outage of that server is then
    the worker's outage, as for a worker configured with one server's address).
    """

    base: Path
    automations: dict[str, str]
    workers: int = 2
    worker_env: dict[str, str] = field(default_factory=dict)
    worker_limit: int = DEFAULT_WORKER_LIMIT
    query_seconds: float = DEFAULT_WORKER_QUERY_SECONDS
    redis: bool = True
    shared_results: bool = True
    redis_locks: bool = True
    engine_command: bool = False
    api_servers: int = 1
    services_apart: bool = False
    load_balancer: bool = False
    worker_servers: dict[int, int] = field(default_factory=dict)

    postgres: Postgres | None = field(default=None, init=False)
    redis_server: Redis | None = field(default=None, init=False)
    servers: list[PrefectServer] = field(default_factory=list, init=False)
    services: Service | None = field(default=None, init=False)
    balancer: HAProxy | None = field(default=None, init=False)
    project: Path = field(default=Path(), init=False)
    nodes: list[Worker] = field(default_factory=list, init=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)
    _previous_sigterm: Any = field(default=None, init=False, repr=False)

    RESULT_BLOCK = "local-file-system/cluster-results"

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _timed(self, step: str, started: float) -> None:
        self.timings[step] = round(time.monotonic() - started, 1)

    @property
    def ha(self) -> bool:
        """Prefect's HA topology: API servers without services, the services in a process of their own."""
        return self.api_servers > 1 or self.services_apart or self.load_balancer

    def start(self) -> Cluster:
        self._catch_sigterm()
        if self.ha and not self.redis:
            raise ClusterError("the HA topology needs Redis (messaging between the API servers and the services)")
        self.base.mkdir(parents=True, exist_ok=True)
        logs = self.base / "logs"
        started = time.monotonic()
        self.postgres = start_postgres(logs)
        self._timed("postgres", started)
        if self.redis:
            started = time.monotonic()
            self.redis_server = start_redis(self.base / "redis")
            self._timed("redis", started)
        if self.ha:
            self._start_ha_servers()
        else:
            started = time.monotonic()
            self.servers = [start_prefect_server(self.base / "server-home", self.postgres.sqlalchemy_url)]
            self._timed("prefect server", started)
        self.project = make_project(self.base, self.automations, examples=False)
        if self.shared_results:
            self._save_result_block(self.base / "shared-results")
        self._write_deploy_config()
        started = time.monotonic()
        self.deploy()
        if self.engine_command:
            self.set_pool_command(f"{PYTHON} -m prefect.engine")
        self._timed("deploy", started)
        started = time.monotonic()
        self.nodes = [
            Worker(i, f"cluster-worker-{i}", self.base / f"worker-{i}" / "state", self.base / f"worker-{i}" / "prefect-home")
            for i in range(self.workers)
        ]
        for worker in self.nodes:
            self._spawn_worker(worker)
        for worker in self.nodes:
            self._wait_for_worker(worker)
        self._timed("workers", started)
        return self

    def _start_ha_servers(self) -> None:
        """Migrate once, then the API servers one at a time (two starting together on a new database race to
        register Prefect's block types: one exits with a UniqueViolation), then the services, then HAProxy."""
        assert self.postgres is not None
        started = time.monotonic()
        migrate_database(self.base / "migrate-home", self.postgres.sqlalchemy_url, self.server_env())
        self._timed("migrate", started)
        started = time.monotonic()
        for index in range(self.api_servers):
            self.servers.append(self._start_api_server(index))
        self._timed("api servers", started)
        started = time.monotonic()
        self.services = start_services(self.base / "services-home", self.postgres.sqlalchemy_url, self.server_env())
        self._timed("services", started)
        if self.load_balancer:
            started = time.monotonic()
            self.balancer = start_haproxy(self.base / "haproxy", [s.port for s in self.servers])
            self._timed("haproxy", started)

    def _start_api_server(self, index: int, port: int | None = None) -> PrefectServer:
        assert self.postgres is not None
        return start_prefect_server(
            self.base / f"api-{index}-home", self.postgres.sqlalchemy_url, self.server_env(),
            services=False, port=port, name=f"prefect-api-{index}",
        )

    def stop(self) -> None:
        """Everything, by PID, in reverse order of dependence; never raises for a part that is gone."""
        for worker in self.nodes:
            if worker.service is not None:
                worker.service.stop()
        for part in (self.balancer, self.services, *self.servers, self.redis_server, self.postgres):
            if part is not None:
                part.stop()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def _catch_sigterm(self) -> None:
        """Python's default SIGTERM ends the process without running ``finally`` blocks, so a test run or
        benchmark stopped with SIGTERM (``timeout``, CI) would leave all these servers running: while the
        cluster is up, SIGTERM raises KeyboardInterrupt instead (pytest and ``with`` then stop everything)."""
        if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return

        def interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}: stopping the cluster")

        self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)

    # ---------------------------------------------------------------- properties

    @property
    def server(self) -> PrefectServer | None:
        """The first API server (the only one outside the HA topology)."""
        return self.servers[0] if self.servers else None

    @property
    def api_url(self) -> str:
        """Where clients go: the load balancer when there is one, else the first API server."""
        if self.balancer is not None:
            return self.balancer.api_url
        assert self.server is not None, "cluster not started"
        return self.server.api_url

    def server_url(self, index: int) -> str:
        """API server ``index`` itself (not through the load balancer)."""
        return self.servers[index].api_url

    def server_env(self) -> dict[str, str]:
        """Settings of every Prefect server process of the HA topology besides its database URL."""
        return ha_server_environment(self.redis_url)

    @property
    def redis_url(self) -> str:
        assert self.redis_server is not None, "cluster started without Redis"
        return self.redis_server.url

    def client_env(self, **extra: str) -> dict[str, str]:
        """Environment of a CLI process (deployer, operator) talking to this cluster's server."""
        env = dict(os.environ)
        env.update(
            {
                "PREFECT_API_URL": self.api_url,
                "PREFECT_HOME": str(self.base / "client-home"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "NO_COLOR": "1",
                "COLUMNS": "200",
            }
        )
        env.update(extra)
        return env

    def job_env(self) -> dict[str, str]:
        """The settings every flow-run process gets through the deployments' job variables."""
        env = {"AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true"}  # the tests' HTTP server is on 127.0.0.1
        if self.shared_results:
            env["AUTOMATIONS_RESULT_STORAGE"] = self.RESULT_BLOCK
        if self.redis and self.redis_locks:
            env["AUTOMATIONS_LOCK_URL"] = self.redis_url
        return env

    def worker_api_url(self, worker: Worker) -> str:
        if worker.index in self.worker_servers:
            return self.server_url(self.worker_servers[worker.index])
        return self.api_url

    def worker_environment(self, worker: Worker) -> dict[str, str]:
        env = self.client_env()
        env.update(
            {
                "PREFECT_API_URL": self.worker_api_url(worker),
                "PREFECT_HOME": str(worker.home),
                "PREFECT_WORKER_QUERY_SECONDS": str(self.query_seconds),
                "AUTOMATIONS_STATE_DIR": str(worker.state_dir),
            }
        )
        env.update(self.worker_env)
        return env

    # ---------------------------------------------------------------- steps

    def _save_result_block(self, folder: Path) -> None:
        from prefect.filesystems import LocalFileSystem
        from prefect.settings import PREFECT_API_URL, temporary_settings

        folder.mkdir(parents=True, exist_ok=True)
        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            LocalFileSystem(basepath=str(folder)).save(self.RESULT_BLOCK.split("/", 1)[1], overwrite=True)

    def _write_deploy_config(self) -> None:
        import yaml

        config = {"work_pool": WORK_POOL, "job_variables": {"env": self.job_env()}}
        (self.project / "configs" / "deploy.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def run(self, *command: str, env: Mapping[str, str] | None = None, timeout: float = DEPLOY_TIMEOUT_SECONDS) -> str:
        """A command in the project folder (cluster client environment); its output, ClusterError when it fails."""
        # A shell sets PWD to the folder it runs in; prefect.yaml's pull step is `{{ $PWD }}`.
        run_env = {**(env if env is not None else self.client_env()), "PWD": str(self.project)}
        completed = subprocess.run(
            list(command), cwd=self.project, env=run_env,
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout, check=False,
        )
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            raise ClusterError(f"{' '.join(command)} failed (exit {completed.returncode}):\n{output[-5000:]}")
        return output

    def compiler(self, *args: str) -> str:
        return self.run(PYTHON, "-m", "compiler", "--config-dir", "configs/automations", *args)

    def deploy(self) -> str:
        """``python -m compiler deploy`` (build, work pool, prefect deploy --all, limits, Prefect automations)."""
        return self.compiler("deploy", "--project-root", ".")

    def plain_deploy(self) -> str:
        """What a CI job that only knows Prefect does: ``compiler build``, then ``prefect deploy --all --no-prompt``."""
        return self.compiler("build") + self.run(PREFECT_BIN, "deploy", "--all", "--no-prompt")

    def add_automation(self, name: str, body: str) -> None:
        (self.project / "configs" / "automations" / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")

    def set_pool_command(self, command: str | None) -> None:
        """Make ``command`` the work pool's default flow-run command (None: Prefect's default).

        With no command, Prefect 3.9's process worker starts a workspace supervisor process
        (``python -m prefect.runner._workspace_supervisor``) that then starts ``python -m prefect.engine``:
        two Python start-ups per run. A configured command skips the supervisor (benchmark P7 measures both).
        """
        response = httpx.get(f"{self.api_url}/work_pools/{WORK_POOL}", timeout=30)
        response.raise_for_status()
        template = response.json()["base_job_template"]
        template["variables"]["properties"]["command"]["default"] = command
        httpx.patch(f"{self.api_url}/work_pools/{WORK_POOL}", json={"base_job_template": template}, timeout=30).raise_for_status()

    def _spawn_worker(self, worker: Worker) -> None:
        worker.state_dir.mkdir(parents=True, exist_ok=True)
        worker.home.mkdir(parents=True, exist_ok=True)
        worker.service = _spawn(
            worker.name,
            [PREFECT_BIN, "worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", worker.name,
             "--limit", str(self.worker_limit)],
            self.base / "logs" / f"{worker.name}.log",
            env=self.worker_environment(worker),
            cwd=self.project,
        )

    def _wait_for_worker(self, worker: Worker) -> None:
        assert worker.service is not None

        def registered() -> bool:
            try:
                response = httpx.post(f"{self.api_url}/work_pools/{WORK_POOL}/workers/filter", json={}, timeout=5)
            except httpx.HTTPError:
                return False
            return response.status_code == 200 and any(w["name"] == worker.name for w in response.json())

        _wait_until(worker.service, registered, "registered with the work pool")

    def kill_worker(self, index: int) -> list[int]:
        """SIGKILL worker ``index`` and its flow-run processes at once, as if its machine died; the PIDs killed."""
        service = self.nodes[index].service
        assert service is not None
        return service.kill()

    def stop_worker(self, index: int) -> None:
        """Stop worker ``index`` (SIGTERM: it takes no new runs); ``restart_worker`` starts it again."""
        service = self.nodes[index].service
        assert service is not None
        service.stop()

    def restart_worker(self, index: int) -> None:
        worker = self.nodes[index]
        if worker.service is not None and worker.service.running():
            worker.service.stop()
        self._spawn_worker(worker)
        self._wait_for_worker(worker)

    def kill_api_server(self, index: int) -> None:
        """SIGKILL API server ``index`` (its machine died); ``restart_api_server`` brings it back on its port."""
        self.servers[index].service.kill()

    def stop_api_server(self, index: int) -> None:
        self.servers[index].stop()

    def restart_api_server(self, index: int) -> None:
        """API server ``index`` again, on the same port (workers and the balancer find it where it was)."""
        server = self.servers[index]
        if server.service.running():
            server.stop()
        self.servers[index] = restarted = self._start_api_server(index, port=server.port)
        if self.balancer is not None:
            # HAProxy takes the server back at its next health check (2 s); with no other server up, it answers
            # 503 until then.
            _wait_until(restarted.service, lambda: healthy(self.api_url), "routed to by HAProxy")

    def worker_of_pid(self, pid: int) -> int | None:
        """Index of the worker whose process tree holds ``pid``."""
        for worker in self.nodes:
            if worker.service is not None and (pid == worker.service.pid or pid in descendants(worker.service.pid)):
                return worker.index
        return None

    def logs(self, chars: int = 2000) -> str:
        """Tails of every log, for a failure message."""
        parts = []
        for path in sorted((self.base / "logs").glob("*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-chars:]}")
        for part in (*self.servers, self.services, self.balancer):
            service = part if isinstance(part, Service) else getattr(part, "service", None)
            if service is not None:
                parts.append(f"--- {service.name}\n{service.log_tail(chars)}")
        return "\n".join(parts)

    # ---------------------------------------------------------------- API reads

    def deployment_id(self, name: str) -> str:
        """Id of the deployment ``flow/deployment`` (ours are named after the automation on both sides)."""
        flow, _, deployment = name.partition("/")
        response = httpx.get(f"{self.api_url}/deployments/name/{flow}/{deployment or flow}", timeout=30)
        response.raise_for_status()
        return str(response.json()["id"])

    def create_run(self, deployment: str, parameters: Mapping[str, Any]) -> str:
        """A flow run of ``deployment`` (as a trigger or an operator creates it); its id."""
        response = httpx.post(
            f"{self.api_url}/deployments/{self.deployment_id(deployment)}/create_flow_run",
            json={"parameters": dict(parameters)}, timeout=60,
        )
        response.raise_for_status()
        return str(response.json()["id"])

    def runs(self, deployment: str) -> list[dict[str, Any]]:
        """Every flow run of ``deployment`` (JSON as the API returns it), oldest first."""
        deployment_id = self.deployment_id(deployment)
        runs: list[dict[str, Any]] = []
        while True:
            response = httpx.post(
                f"{self.api_url}/flow_runs/filter",
                json={"deployments": {"id": {"any_": [deployment_id]}}, "sort": "EXPECTED_START_TIME_ASC",
                      "limit": 200, "offset": len(runs)},
                timeout=60,
            )
            response.raise_for_status()
            page = response.json()
            runs.extend(page)
            if len(page) < 200:
                return runs

    def flow_run(self, run_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.api_url}/flow_runs/{run_id}", timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        response = httpx.post(
            f"{self.api_url}/task_runs/filter", json={"flow_runs": {"id": {"any_": [run_id]}}, "limit": 200}, timeout=30
        )
        response.raise_for_status()
        return list(response.json())

    def executed_by(self) -> dict[str, str]:
        """flow-run id → name of the worker that executed it, from the workers' own
        ``prefect.worker.executed-flow-run`` events (what the Prefect UI shows; a run a worker tried to
        submit but another worker had already taken has none)."""
        response = httpx.post(
            f"{self.api_url}/events/filter",
            json={"filter": {"event": {"name": ["prefect.worker.executed-flow-run"]}}, "limit": 50},
            timeout=60,
        )
        found: dict[str, str] = {}
        while True:
            response.raise_for_status()
            page = response.json()
            for event in page["events"]:
                for related in event.get("related") or []:
                    if related.get("prefect.resource.role") == "flow-run":
                        run_id = related["prefect.resource.id"].removeprefix("prefect.flow-run.")
                        found[run_id] = event["resource"]["prefect.resource.name"]
            if not page.get("next_page"):
                return found
            response = httpx.get(page["next_page"], timeout=60)

    def wait_for_runs(self, deployment: str, count: int, timeout: float, *, terminal: bool = True) -> list[dict[str, Any]]:
        """The runs of ``deployment`` once ``count`` exist (and are all final with ``terminal``), or at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs(deployment)
            done = len(runs) >= count and (not terminal or all(state_type(r) in TERMINAL_STATES for r in runs))
            if done or time.monotonic() > deadline:
                return runs
            time.sleep(1.0)

    def wait_for_state(self, run_id: str, states: Iterable[str], timeout: float) -> dict[str, Any]:
        """The flow run once its state type is one of ``states``, or as it is at the timeout."""
        wanted = set(states)
        deadline = time.monotonic() + timeout
        while True:
            run = self.flow_run(run_id)
            if state_type(run) in wanted or time.monotonic() > deadline:
                return run
            time.sleep(0.5)


def state_type(run: Mapping[str, Any]) -> str:
    return str((run.get("state") or {}).get("type") or "")


def state_name(run: Mapping[str, Any]) -> str:
    return str((run.get("state") or {}).get("name") or "")


def new_id() -> str:
    return str(uuid.uuid4())
