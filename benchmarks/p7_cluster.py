"""P7: the production path - a Prefect server on PostgreSQL with 2 process workers (``prefect worker start``).

The cluster is the one the cluster tests use (``tests/cluster/harness.py``): PostgreSQL and Redis on free
127.0.0.1 ports, ``prefect server start`` on PostgreSQL, a temporary project deployed with
``python -m compiler deploy``, two workers with separate state folders, a shared result-storage block and
Redis idempotency locks (AUTOMATIONS_LOCK_URL). Every process is stopped by PID at the end.

Worker poll setting: PREFECT_WORKER_QUERY_SECONDS=1 (Prefect's default is 10 s, which alone puts ~5-10 s
between a run's creation and its start). One poll a second is two small queries per worker per second,
nothing for PostgreSQL, and is the largest single cut in event -> action latency.

Three figures:

* throughput: rounds of RUNS runs created at once through the API, alternating between a 3-action
  automation (3 ``http_request`` actions to a local recording server, each occurrence distinct) and a
  hand-written async Prefect flow doing the same 3 requests as 3 tasks, deployed to the same pool and run
  by the same workers. runs/minute = runs / (last run's end - first run's creation). Goal: the automation
  >= 0.9x the hand-written flow (median of the rounds).
* duplicates: requests beyond one per (occurrence, action) over every automation run of the benchmark. Goal 0.
* latency: one event at a time (POST /api/events), event posted -> first action's request arrives, with the
  workers idle. Goal: median <= 3 s.

All three are measured twice: with Prefect's default worker command (the goals are judged on this, what a
pool created by `compiler deploy` does today) and with the pool's flow-run command set to
``python -m prefect.engine``. Prefect 3.9's process worker otherwise starts a workspace supervisor process
per run that then starts the engine process: two Python start-ups per run instead of one.

Last, the workers are stopped and two ``python -m compiler serve`` processes (separate state folders, the same
shared result storage and Redis locks, as on two machines) execute the automation in-process: its throughput,
latency and duplicates, printed next to the workers' figures (the README says when to use which).

    python benchmarks/p7_cluster.py
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RecordingServer, median, result_line, say, start_serve, stop_process, temp_dir, wait_for_log

from tests.cluster.harness import (
    PREFECT_BIN,
    Cluster,
    custom_event,
    event_parameter,
    install_services,
    missing_services,
    post_events,
    state_type,
)

ROUNDS = 2
RUNS = 12  # per round and side: 2 workers x --limit 2 = 4 at a time, so three waves
LATENCY_SAMPLES = 10
SERVERS = 2  # `compiler serve` processes of the last phase, as on two machines
GOAL_RATIO = 0.9
GOAL_LATENCY_SECONDS = 3.0
RUN_TIMEOUT = 900.0
SAMPLE_TIMEOUT = 120.0
AUTOMATION = "p7_three"
HANDWRITTEN = "p7_handwritten"

HANDWRITTEN_FLOW = '''"""The hand-written baseline of benchmark P7: the same three requests as three Prefect tasks."""

import httpx
from prefect import flow, task


@task
async def call(url: str) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.status_code


@flow(name="p7_handwritten")
async def p7_handwritten(base: str, n: str) -> None:
    for step in ("a", "b", "c"):
        await call(f"{base}/p7/hand/{n}/{step}")
'''


def automation_yaml(url: str) -> str:
    steps = "".join(
        f"  - type: http_request\n    name: call_{step}\n    parameters: {{url: \"{url}/p7/auto/{{event.payload.n}}/{step}\"}}\n"
        for step in ("a", "b", "c")
    )
    return f"trigger:\n  type: event\n  event: {{event_type: custom, custom_type: p7-three}}\nactions:\n{steps}"


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def throughput(cluster: Cluster, deployment: str, round_no: int, parameters_for: object) -> float:
    """Create RUNS runs at once; runs/minute from the first creation to the last end."""
    before = {r["id"] for r in cluster.runs(deployment)}
    for i in range(RUNS):
        cluster.create_run(deployment, parameters_for(f"r{round_no}-{i}"))  # type: ignore[operator]
    runs = [r for r in cluster.wait_for_runs(deployment, len(before) + RUNS, RUN_TIMEOUT) if r["id"] not in before]
    states = Counter(state_type(r) for r in runs)
    if states != {"COMPLETED": RUNS}:
        raise SystemExit(f"{deployment} round {round_no}: {states}\n{cluster.logs()}")
    span = max(_seconds(r["end_time"]) for r in runs) - min(_seconds(r["created"]) for r in runs)
    return RUNS / span * 60


def measure(cluster: Cluster, http: RecordingServer, mode: str) -> tuple[list[float], list[float], list[float]]:
    """(automation runs/min per round, hand-written runs/min per round, latencies) with the pool as it is."""
    auto_rates: list[float] = []
    hand_rates: list[float] = []

    def automation_parameters(n: str) -> dict[str, object]:
        return {"event": event_parameter(custom_event("p7-three", {"n": f"{mode}-{n}"}))}

    def handwritten_parameters(n: str) -> dict[str, object]:
        return {"base": http.url, "n": f"{mode}-{n}"}

    # Warm-up (untimed): the first runs on each worker pay cold imports from disk.
    throughput(cluster, f"{AUTOMATION}/{AUTOMATION}", 0, automation_parameters)
    throughput(cluster, f"{HANDWRITTEN}/{HANDWRITTEN}", 0, handwritten_parameters)
    for round_no in range(1, ROUNDS + 1):
        # Alternate which side goes first, so a drift in machine load hits both.
        sides = [("auto", AUTOMATION, automation_parameters), ("hand", HANDWRITTEN, handwritten_parameters)]
        if round_no % 2 == 0:
            sides.reverse()
        for side, name, parameters in sides:
            rate = throughput(cluster, f"{name}/{name}", round_no, parameters)
            (auto_rates if side == "auto" else hand_rates).append(rate)
            say(f"[{mode}] round {round_no}: {side} {rate:.1f} runs/min")
    return auto_rates, hand_rates, event_latencies(cluster, http, mode)


def event_latencies(cluster: Cluster, http: RecordingServer, mode: str) -> list[float]:
    """One event at a time, the executors idle: event posted -> the first action's request arrives."""
    latencies: list[float] = []
    for i in range(LATENCY_SAMPLES):
        time.sleep(1.0)
        n = f"{mode}-lat{i}"
        event = custom_event("p7-three", {"n": n})
        published = time.time()
        post_events(cluster.api_url, [event])
        hit = http.wait_for(f"/p7/auto/{n}/a", SAMPLE_TIMEOUT)
        if hit is None:
            raise SystemExit(f"event {i} started no action within {SAMPLE_TIMEOUT:.0f}s\n{cluster.logs()}")
        latencies.append(hit.at - published)
        say(f"[{mode}] latency sample {i + 1}/{LATENCY_SAMPLES}: {latencies[-1]:.2f}s")
        if http.wait_for(f"/p7/auto/{n}/c", SAMPLE_TIMEOUT) is None:  # idle executors for the next sample
            raise SystemExit(f"event {i}: the run did not finish\n{cluster.logs()}")
    return latencies


def measure_serve(cluster: Cluster, http: RecordingServer) -> tuple[list[float], list[float]]:
    """The same automation executed by SERVERS ``python -m compiler serve`` processes (in-process runs, no
    process per run) with separate state folders, as on several machines; the workers are stopped first.

    serve re-creates the automation's deployment without a work pool, so this phase comes last."""
    for worker in cluster.nodes:
        if worker.service is not None:
            worker.service.stop()
    processes = []
    try:
        for i in range(SERVERS):
            # Each "machine" has its own checkout: serve allows one serve per project folder (var/serve.lock).
            checkout = cluster.base / f"serve-{i}" / "project"
            shutil.copytree(cluster.project, checkout, ignore=shutil.ignore_patterns("var"))
            log_path = cluster.base / "logs" / f"serve-{i}.log"
            proc = start_serve(checkout, cluster, log_path, extra_env={
                **cluster.job_env(),
                "PREFECT_HOME": str(cluster.base / f"serve-{i}" / "home"),
                "AUTOMATIONS_STATE_DIR": str(cluster.base / f"serve-{i}" / "state"),
            })
            processes.append(proc)
            wait_for_log(log_path, "serving 1 deployment", proc, timeout=300)
        time.sleep(3)  # the re-created deployment trigger reaches the server's trigger service
        rates: list[float] = []

        def parameters(n: str) -> dict[str, object]:
            return {"event": event_parameter(custom_event("p7-three", {"n": f"serve-{n}"}))}

        throughput(cluster, f"{AUTOMATION}/{AUTOMATION}", 0, parameters)  # warm-up
        for round_no in range(1, ROUNDS + 1):
            rates.append(throughput(cluster, f"{AUTOMATION}/{AUTOMATION}", round_no, parameters))
            say(f"[serve] round {round_no}: auto {rates[-1]:.1f} runs/min")
        return rates, event_latencies(cluster, http, "serve")
    finally:
        for proc in processes:
            stop_process(proc, sig=signal.SIGINT)  # serve drains and exits


def main() -> int:
    missing = missing_services()
    if missing:
        if os.geteuid() != 0:
            raise SystemExit(f"{', '.join(missing)} missing: run `sudo .ci/install-services` first")
        say(f"installing {', '.join(missing)} ...")
        install_services()
    work = temp_dir("p7")
    results: dict[str, tuple[list[float], list[float], list[float]]] = {}
    try:
        with RecordingServer() as http:
            cluster = Cluster(work, {AUTOMATION: automation_yaml(http.url)}, workers=2)
            say("starting PostgreSQL, Redis, the Prefect server, deploy, 2 workers ...")
            with cluster:
                say(f"cluster up: {cluster.timings} (seconds); API {cluster.api_url}; worker poll {cluster.query_seconds}s")
                (cluster.project / "p7_handwritten.py").write_text(HANDWRITTEN_FLOW, encoding="utf-8")
                cluster.run(PREFECT_BIN, "deploy", f"p7_handwritten.py:{HANDWRITTEN}", "--name", HANDWRITTEN,
                            "--pool", "automations", "--no-prompt")
                results["default"] = measure(cluster, http, "default")
                # The same with the pool's flow-run command set: no workspace supervisor process per run.
                cluster.set_pool_command(f"{sys.executable} -m prefect.engine")
                results["command"] = measure(cluster, http, "command")
                serve_rates, serve_latencies = measure_serve(cluster, http)
            # Every process that could send a request is stopped now.
            paths = Counter(h.path for h in list(http.hits) if h.path.startswith("/p7/auto/"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    duplicates = sum(count - 1 for count in paths.values())
    auto_rates, hand_rates, latencies = results["default"]
    c_auto, c_hand, c_latencies = results["command"]
    ratio = median(auto_rates) / median(hand_rates)
    lat = median(latencies)
    figure = (
        f"throughput {median(auto_rates):.1f} vs hand-written {median(hand_rates):.1f} runs/min = {ratio:.2f}x "
        f"(medians of {ROUNDS} rounds of {RUNS} runs; auto {[round(r, 1) for r in auto_rates]}, "
        f"hand {[round(r, 1) for r in hand_rates]}); duplicates executed: {duplicates} of {len(paths)} action calls; "
        f"event -> first action median {lat:.2f}s (min {min(latencies):.2f}s, max {max(latencies):.2f}s) "
        f"with PREFECT_WORKER_QUERY_SECONDS=1. With the pool command `python -m prefect.engine` (no workspace "
        f"supervisor): {median(c_auto):.1f} vs {median(c_hand):.1f} runs/min = {median(c_auto) / median(c_hand):.2f}x, "
        f"latency median {median(c_latencies):.2f}s. Under {SERVERS} `compiler serve` processes instead of workers: "
        f"{median(serve_rates):.1f} runs/min ({[round(r, 1) for r in serve_rates]}), latency median "
        f"{median(serve_latencies):.2f}s (min {min(serve_latencies):.2f}s, max {max(serve_latencies):.2f}s)"
    )
    passed = ratio >= GOAL_RATIO and duplicates == 0 and lat <= GOAL_LATENCY_SECONDS
    result_line("P7", "PostgreSQL server + 2 process workers (Prefect's default worker command)", figure,
                f">= {GOAL_RATIO:g}x throughput, 0 duplicates, median latency <= {GOAL_LATENCY_SECONDS:g}s", passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
