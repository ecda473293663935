"""P7-HA: Prefect's high-availability topology against one server, with the same workers.

Two clusters from ``tests/cluster/harness.py``, one after the other, each with two process workers
(``--limit 2``, PREFECT_WORKER_QUERY_SECONDS=1, the pool's flow-run command ``python -m prefect.engine``), a
shared result-storage block and Redis idempotency locks:

* one server: ``prefect server start`` (API and background services in one process) on PostgreSQL;
* HA: the database migrated once, two ``prefect server start --no-services`` API servers on Redis messaging,
  one ``prefect server services start``, HAProxy in front with health checks; workers and every client go
  through HAProxy (README "Running at scale", several API servers).

Figures per topology, with P7's automation (3 ``http_request`` actions to a local recording server):

* throughput: rounds of RUNS runs created at once; runs/minute from the first creation to the last end
  (median of ROUNDS rounds after a warm-up round). Goal: HA >= 0.9x one server.
* latency: one event at a time (POST /api/events), event posted -> the first action's request arrives, the
  workers idle. Goal: the HA median at most 1 s above one server's (one more hop, Redis between the API
  server that takes the event and the services that run the trigger).
* duplicates: requests beyond one per (occurrence, action) over both topologies. Goal 0.

The machine running this is usually shared: the two topologies are measured minutes apart, so a change of load
in between moves one side only. Read one run's ratio with that in mind.

    python benchmarks/p7_ha.py
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RecordingServer, median, result_line, say, temp_dir
from p7_cluster import AUTOMATION, automation_yaml, event_latencies, throughput

from tests.cluster.harness import (
    Cluster,
    custom_event,
    event_parameter,
    install_services,
    missing_services,
)

ROUNDS = 2
GOAL_RATIO = 0.9
GOAL_EXTRA_LATENCY_SECONDS = 1.0
TOPOLOGIES = {
    "one server": {},
    "HA": {"api_servers": 2, "load_balancer": True},
}


def measure(name: str, options: dict[str, object], work: Path, http: RecordingServer) -> tuple[list[float], list[float], dict[str, float]]:
    """(runs/min per round, latencies, start-up timings) of one topology; every process stopped at the end."""

    def parameters(n: str) -> dict[str, object]:
        return {"event": event_parameter(custom_event("p7-three", {"n": f"{name}-{n}"}))}

    cluster = Cluster(work / name.replace(" ", "-"), {AUTOMATION: automation_yaml(http.url)}, workers=2, engine_command=True, **options)  # type: ignore[arg-type]
    say(f"[{name}] starting PostgreSQL, Redis, the Prefect server(s), deploy, 2 workers ...")
    with cluster:
        say(f"[{name}] up: {cluster.timings} (seconds); clients use {cluster.api_url}")
        throughput(cluster, f"{AUTOMATION}/{AUTOMATION}", 0, parameters)  # warm-up: cold imports on each worker
        rates = []
        for round_no in range(1, ROUNDS + 1):
            rates.append(throughput(cluster, f"{AUTOMATION}/{AUTOMATION}", round_no, parameters))
            say(f"[{name}] round {round_no}: {rates[-1]:.1f} runs/min")
        return rates, event_latencies(cluster, http, name.replace(" ", "-")), dict(cluster.timings)


def main() -> int:
    missing = missing_services()
    if missing:
        if os.geteuid() != 0:
            raise SystemExit(f"{', '.join(missing)} missing: run `sudo .ci/install-services` first")
        say(f"installing {', '.join(missing)} ...")
        install_services()
    work = temp_dir("p7-ha")
    results: dict[str, tuple[list[float], list[float], dict[str, float]]] = {}
    try:
        with RecordingServer() as http:
            for name, options in TOPOLOGIES.items():
                results[name] = measure(name, options, work, http)
            paths = Counter(h.path for h in list(http.hits) if h.path.startswith("/p7/auto/"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    duplicates = sum(count - 1 for count in paths.values())
    one_rates, one_latencies, one_timings = results["one server"]
    ha_rates, ha_latencies, ha_timings = results["HA"]
    ratio = median(ha_rates) / median(one_rates)
    extra = median(ha_latencies) - median(one_latencies)
    figure = (
        f"throughput HA {median(ha_rates):.1f} vs one server {median(one_rates):.1f} runs/min = {ratio:.2f}x "
        f"(medians of {ROUNDS} rounds; HA {[round(r, 1) for r in ha_rates]}, one {[round(r, 1) for r in one_rates]}); "
        f"event -> first action median HA {median(ha_latencies):.2f}s vs one server {median(one_latencies):.2f}s "
        f"({extra:+.2f}s; HA min {min(ha_latencies):.2f}s max {max(ha_latencies):.2f}s); duplicates executed: "
        f"{duplicates} of {len(paths)} action calls; start-up HA {sum(ha_timings.values()):.0f}s {ha_timings}, "
        f"one server {sum(one_timings.values()):.0f}s"
    )
    passed = ratio >= GOAL_RATIO and extra <= GOAL_EXTRA_LATENCY_SECONDS and duplicates == 0
    result_line("P7-HA", "2 API servers + services apart + HAProxy vs one server, 2 process workers", figure,
                f">= {GOAL_RATIO:g}x throughput, median latency <= one server + {GOAL_EXTRA_LATENCY_SECONDS:g}s, 0 duplicates", passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
