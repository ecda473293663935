"""P5: an event storm - 1,000 matching events within 10 s for an automation with a 60 s cooldown, under serve.

A temporary project holds one event automation (custom event type, `cooldown_seconds: 60`) whose first
action is an http_request to a local recording HTTP server; `python -m compiler serve` runs it against a
local Prefect server. 1,000 distinct matching events are posted through POST /api/events in batches spread
over <= 10 s; then the script waits (~20 s, until the runs settle) and counts

* flow runs created for the automation's deployment (Prefect client, deployment filter), and
* how many executed their actions (requests the recording server received); the others must end
  Completed with state name Skipped.

The storm is repeated (fresh automation name, so a fresh deployment and cooldown limit each round) and
every round must meet the goal; the figure reports each round and the medians.

    python benchmarks/p5_event_storm.py
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from _common import (
    PROJECT_ROOT,
    RecordingServer,
    median,
    prefect_server,
    result_line,
    say,
    start_serve,
    stop_process,
    temp_dir,
    use_server_in_process,
    wait_for_log,
)

EVENTS = 1000
BATCHES = 20
SPREAD_S = 9.0  # first batch at 0 s, last at SPREAD_S
COOLDOWN_S = 60
SETTLE_S = 20.0
ROUNDS = 3
GOAL_MAX_RUNS = 2
GOAL_EXECUTED = 1
SERVE_START_TIMEOUT_S = 120.0


def automation_yaml(name: str, target_url: str) -> str:
    return f"""name: {name}
description: P5 benchmark - an event storm against a {COOLDOWN_S} s cooldown.
trigger:
  type: event
  event:
    event_type: custom
    custom_type: {name}
  cooldown_seconds: {COOLDOWN_S}
actions:
  - type: http_request
    name: call_recorder
    parameters:
      url: "{target_url}/p5/{name}/{{event.id}}"
      method: POST
      json:
        event_id: "{{event.id}}"
  - type: log_message
    name: after_call
    parameters:
      message: "recorder answered for {{event.id}}"
"""


def events(custom_type: str, count: int) -> list[dict[str, Any]]:
    from flows.events.publish import build_event

    out = []
    for i in range(count):
        built = build_event("custom", {"custom_type": custom_type}, {"custom_type": custom_type, "seq": i})
        out.append(
            {
                "id": built.id,
                "occurred": datetime.now(UTC).isoformat(),
                "event": built.event,
                "resource": built.resource,
                "payload": built.payload,
            }
        )
    return out


async def runs_of(name: str) -> list[Any]:
    """Flow runs of the automation's deployment (``<flow>/<deployment>``, both named after the automation)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"{name}/{name}")
        found: list[Any] = []
        while True:
            page = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])), limit=200, offset=len(found)
            )
            found.extend(page)
            if len(page) < 200:
                return found


def storm(server_api: str, name: str) -> float:
    """Post EVENTS events in BATCHES batches evenly over SPREAD_S; returns the seconds it took."""
    batch_size = EVENTS // BATCHES
    started = time.monotonic()
    with httpx.Client(timeout=30.0) as http:
        for b in range(BATCHES):
            due = started + b * SPREAD_S / (BATCHES - 1)
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            batch = events(name, batch_size)
            response = http.post(f"{server_api}/events", content=json.dumps(batch), headers={"content-type": "application/json"})
            if response.status_code != 204:
                raise SystemExit(f"POST /api/events answered {response.status_code}: {response.text}")
    return time.monotonic() - started


def main() -> int:
    work = temp_dir("p5")
    rounds: list[dict[str, Any]] = []
    with RecordingServer() as recorder, prefect_server("p5") as server:
        use_server_in_process(server, work / "state")
        project = work / "project"
        automations = project / "configs" / "automations"
        automations.mkdir(parents=True)
        shutil.copytree(PROJECT_ROOT / "configs" / "chains", project / "configs" / "chains")
        names = [f"p5_storm_{uuid.uuid4().hex[:8]}" for _ in range(ROUNDS)]
        # Every round's automation is served from the start; each round storms only its own event type.
        for name in names:
            (automations / f"{name}.yaml").write_text(automation_yaml(name, recorder.url), encoding="utf-8")
        log_path = work / "serve.log"
        serve = start_serve(project, server, log_path, {"PYTHONUNBUFFERED": "1"})
        say(f"serve pid {serve.pid}, log {log_path}")
        try:
            wait_for_log(log_path, "serving ", serve, SERVE_START_TIMEOUT_S)
            say("serve ready")
            for r, name in enumerate(names, 1):
                hits_before = recorder.count(f"/p5/{name}/")
                took = storm(server.api_url, name)
                say(f"round {r}/{ROUNDS}: posted {EVENTS} events in {BATCHES} batches over {took:.1f}s; waiting for runs to settle")
                # Wait SETTLE_S, and longer (up to 3x) while runs are still not final.
                deadline = time.monotonic() + SETTLE_S
                hard_deadline = time.monotonic() + 3 * SETTLE_S
                while True:
                    time.sleep(1.0)
                    runs = asyncio.run(runs_of(name))
                    unfinished = [run for run in runs if run.state is None or not run.state.is_final()]
                    now = time.monotonic()
                    if (now >= deadline and not unfinished) or now >= hard_deadline:
                        break
                executed = recorder.count(f"/p5/{name}/") - hits_before
                states = Counter(f"{run.state_type.value}/{run.state_name}" for run in runs)
                skipped = sum(1 for run in runs if run.state_type is not None and run.state_type.value == "COMPLETED" and run.state_name == "Skipped")
                ok = len(runs) <= GOAL_MAX_RUNS and executed == GOAL_EXECUTED and skipped == len(runs) - executed
                rounds.append({"runs": len(runs), "executed": executed, "skipped": skipped, "ok": ok})
                say(f"round {r}: {len(runs)} flow run(s) created, {executed} executed, {skipped} Skipped; states {dict(states)}"
                    + ("" if ok else "  <-- goal missed"))
        finally:
            stop_process(serve)
            say(f"stopped serve pid {serve.pid} (exit {serve.returncode})")
    created = [r["runs"] for r in rounds]
    executed = [r["executed"] for r in rounds]
    passed = all(r["ok"] for r in rounds)
    figure = (
        f"{EVENTS} events in {SPREAD_S:g}s, {ROUNDS} rounds: flow runs created {created} (median {median(created):g}), "
        f"executed {executed} (median {median(executed):g}), the rest Completed/Skipped: "
        f"{'yes' if all(r['skipped'] == r['runs'] - r['executed'] for r in rounds) else 'NO'}"
    )
    result_line("P5", f"event storm vs {COOLDOWN_S}s cooldown under serve", figure,
                f"<= {GOAL_MAX_RUNS} runs created, exactly {GOAL_EXECUTED} executed, every round", passed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
