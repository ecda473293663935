"""P13: `python -m compiler serve` of 1,000 automations on the embedded SQLite server: ready, memory, latency.

Two temporary projects with the P1 benchmark's mix (benchmarks/p1_build.py: event, time and condition
triggers in turn, 3-5 actions, a few disabled) plus one probe automation (an event trigger whose first
action is an http_request to a local HTTP server run here): one with 10 automations, one with 1,000.
Each is served with no PREFECT_API_URL, so `serve` starts its embedded server on a fresh database, exactly
as `python -m compiler serve` on a new checkout does. Measured:

- ready: from starting `serve` to its "serving …" line (server start, deployments registered, checks set
  up), on the fresh database and again on a restart with nothing changed (the database kept);
- RSS of the serve process once ready (and its peak), and of the embedded server;
- event → first action: a new probe event posted to the server, until the HTTP server sees the probe's
  request, median of SAMPLES, with 1,000 automations registered, against the median of SAMPLES taken with
  10 before and SAMPLES after them (the shared machine's load drifts);
- what the server holds per deployment: scheduled runs, trigger automations.

    python benchmarks/p13_serve.py
    P13_DATABASE=postgres python benchmarks/p13_serve.py   # the embedded server on a private PostgreSQL (as root:
                                                          # Debian's postgresql package; a new database per project)
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _common import PROJECT_ROOT, PYTHON, RecordingServer, median, result_line, say, temp_dir
from p1_build import generate

COUNT = int(os.environ.get("P13_COUNT", "1000"))
DATABASE = os.environ.get("P13_DATABASE", "sqlite")
BASELINE = 10
SAMPLES = int(os.environ.get("P13_SAMPLES", "15"))
GOAL_READY_SECONDS = 30.0
GOAL_RSS_MB = 300.0
GOAL_LATENCY_RATIO = 1.5
READY_TIMEOUT = 1200.0
SAMPLE_TIMEOUT = 120.0
SETTLE_SECONDS = 1.0
PROBE = "p13_probe"


def probe_yaml(url: str) -> str:
    return f"""name: {PROBE}
description: First action calls the benchmark's HTTP server.
trigger:
  type: event
  event:
    event_type: custom
    custom_type: {PROBE}
actions:
  - type: http_request
    name: call_benchmark
    parameters:
      url: "{url}/hit/{{event.id}}"
      method: POST
"""


def make_project(base: Path, count: int, url: str) -> Path:
    project = base / f"project-{count}"
    generate(project / "configs" / "automations", count - 1)
    (project / "configs" / "automations" / f"{PROBE}.yaml").write_text(probe_yaml(url), encoding="utf-8")
    shutil.copytree(PROJECT_ROOT / "configs" / "chains", project / "configs" / "chains")
    return project


def _proc_status(pid: int, key: str) -> float:
    """A /proc/<pid>/status size in MB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    log: Path
    ready_seconds: float
    api_url: str
    server_pid: int
    cpu: tuple[float, float] = (0.0, 0.0)  # CPU seconds of serve and of its server when it was ready

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def start(project: Path, label: str, database_url: str | None = None) -> Served:
    """`python -m compiler serve` in ``project`` with no API configured: it starts the embedded server (on
    ``database_url`` when given, else SQLite under the project)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    env.update(
        {
            "PREFECT_HOME": str(project / "prefect-client-home"),  # no profile pointing at another server
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
            "AUTOMATIONS_HTTP_ALLOW_PRIVATE": "true",
            "PYTHONPATH": str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1",
        }
    )
    log = project / f"serve-{label}.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen([PYTHON, "-m", "compiler", "serve"], cwd=project, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    while True:
        text = log.read_text(errors="replace")
        if "\nserving " in text or text.startswith("serving "):
            break
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode} before serving:\n{text[-3000:]}")
        if time.monotonic() - started > READY_TIMEOUT:
            stop(proc)
            raise SystemExit(f"serve not ready within {READY_TIMEOUT:.0f}s:\n{text[-3000:]}")
        time.sleep(0.05)
    ready = time.monotonic() - started
    ui = next(line for line in text.splitlines() if line.startswith("Prefect UI: ")).split()[2]
    import json

    server_pid = int(json.loads((project / "var" / "prefect" / "server.json").read_text())["pid"])
    served = Served(proc, log, ready, f"{ui}/api", server_pid)
    # CPU spent getting there: on a busy shared machine wall time says little, CPU seconds say what it costs.
    served.cpu = (cpu_seconds(proc.pid), cpu_seconds(server_pid))
    return served


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGINT (serve drains, then stops the embedded server it started); SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=30)


def latencies(served: Served, http: RecordingServer) -> list[float]:
    out: list[float] = []
    with httpx.Client(base_url=served.api_url, timeout=30) as api:
        for i in range(SAMPLES + 1):
            time.sleep(SETTLE_SECONDS)
            event_id = str(uuid.uuid4())
            body = [{
                "id": event_id,
                "occurred": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "event": f"platform-god.custom.{PROBE}",
                "resource": {"prefect.resource.id": f"platform-god.custom.{PROBE}", "platform-god.custom-type": PROBE},
                "payload": {"n": i},
            }]
            published = time.time()
            api.post("/events", json=body).raise_for_status()
            hit = http.wait_for(f"/hit/{event_id}", SAMPLE_TIMEOUT)
            if hit is None:
                raise SystemExit(f"probe event {i} started no action within {SAMPLE_TIMEOUT:.0f}s; see {served.log}")
            if i:  # the first one is a warm-up: the first run in serve pays imports
                out.append(hit.at - published)
                say(f"  sample {i}/{SAMPLES}: {out[-1]:.3f}s")
    return out


def server_objects(api_url: str) -> dict[str, int]:
    with httpx.Client(base_url=api_url, timeout=60) as api:
        scheduled = api.post("/flow_runs/count", json={"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}).json()
        deployments = api.post("/deployments/count", json={}).json()
        automations = len(api.post("/automations/filter", json={"limit": 200}).json())
    return {"scheduled runs": scheduled, "deployments": deployments, "automations (first 200)": automations}


def measure(project: Path, http: RecordingServer, label: str, restart: bool, database_url: str | None = None) -> dict[str, Any]:
    say(f"{label}: starting serve (embedded server, fresh {DATABASE} database) ...")
    load = os.getloadavg()[0]
    served = start(project, label, database_url)
    figures: dict[str, Any] = {"ready": served.ready_seconds, "load": load, "ready_cpu": served.cpu}
    try:
        figures["rss"] = _proc_status(served.proc.pid, "VmRSS")
        figures["server_rss"] = _proc_status(served.server_pid, "VmRSS")
        summary = next((line for line in served.text().splitlines() if line.startswith("deployments: ")), "?")
        say(f"{label}: ready after {served.ready_seconds:.1f}s ({summary}; CPU serve {served.cpu[0]:.1f}s, server {served.cpu[1]:.1f}s); "
            f"serve RSS {figures['rss']:.0f} MB, server RSS {figures['server_rss']:.0f} MB")
        figures["latencies"] = latencies(served, http)
        figures["peak_rss"] = _proc_status(served.proc.pid, "VmHWM")
        figures["objects"] = server_objects(served.api_url)
        say(f"{label}: event -> first action median {median(figures['latencies']):.3f}s; server holds {figures['objects']}")
    finally:
        stop(served.proc)
    if restart:
        say(f"{label}: restarting serve (the database kept, nothing changed) ...")
        again = start(project, label + "-restart", database_url)
        figures["restart_ready"] = again.ready_seconds
        summary = next((line for line in again.text().splitlines() if line.startswith("deployments: ")), "?")
        say(f"{label}: restart ready after {again.ready_seconds:.1f}s ({summary}; CPU serve {again.cpu[0]:.1f}s, server {again.cpu[1]:.1f}s)")
        stop(again.proc)
    return figures


def latency_again(project: Path, http: RecordingServer, label: str, database_url: str | None) -> list[float]:
    """The latency samples of ``project`` once more (a restart): the baseline is taken before and after the
    large project, so a change of the shared machine's load in between weighs on both sides."""
    say(f"{label}: serving again for a second set of latency samples ...")
    served = start(project, label + "-again", database_url)
    try:
        samples = latencies(served, http)
    finally:
        stop(served.proc)
    say(f"{label}: event -> first action median {median(samples):.3f}s (second set)")
    return samples


def _postgres(work: Path) -> Any:
    """A private PostgreSQL (the cluster tests' harness) and a function making a new database URL."""
    from tests.cluster.harness import start_postgres

    postgres = start_postgres(work)
    made = 0

    def new_database() -> str:
        nonlocal made
        made += 1
        name = f"p13_{made}"
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "postgres", "-c", f"CREATE DATABASE {name}"],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
        return postgres.sqlalchemy_url.rsplit("/", 1)[0] + f"/{name}"

    return postgres, new_database


def main() -> int:
    work = temp_dir("p13")
    postgres = None
    try:
        new_database: Any = lambda: None  # noqa: E731 - SQLite: the embedded server's own file
        if DATABASE == "postgres":
            postgres, new_database = _postgres(work)
        with RecordingServer() as http:
            small_project, small_database = make_project(work, BASELINE, http.url), new_database()
            small = measure(small_project, http, f"{BASELINE} automations", restart=False, database_url=small_database)
            large = measure(make_project(work, COUNT, http.url), http, f"{COUNT} automations", restart=True, database_url=new_database())
            small["latencies"] += latency_again(small_project, http, f"{BASELINE} automations", small_database)
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    ratio = median(large["latencies"]) / median(small["latencies"])
    passed = large["ready"] <= GOAL_READY_SECONDS and large["peak_rss"] <= GOAL_RSS_MB and ratio <= GOAL_LATENCY_RATIO
    figure = (
        f"ready {large['ready']:.1f}s on a fresh database (CPU: serve {large['ready_cpu'][0]:.1f}s, server {large['ready_cpu'][1]:.1f}s), "
        f"{large['restart_ready']:.1f}s on a restart (load {large['load']:.1f}); "
        f"serve RSS {large['rss']:.0f} MB (peak {large['peak_rss']:.0f} MB, server {large['server_rss']:.0f} MB); "
        f"event -> first action median {median(large['latencies']):.3f}s vs {median(small['latencies']):.3f}s with {BASELINE} = {ratio:.2f}x; "
        f"server holds {large['objects']['scheduled runs']} scheduled runs for {large['objects']['deployments']} deployments"
    )
    result_line(
        "P13",
        f"serve of {COUNT:,} automations (embedded server on {'SQLite' if DATABASE == 'sqlite' else 'PostgreSQL'})",
        figure,
        f"ready <= {GOAL_READY_SECONDS:g}s, RSS <= {GOAL_RSS_MB:g} MB, latency <= {GOAL_LATENCY_RATIO:g}x the {BASELINE}-automation figure",
        passed,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
