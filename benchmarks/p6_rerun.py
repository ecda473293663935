"""P6: re-running an already completed occurrence (same idempotency key) vs its first run.

In-process flow calls against one local Prefect server: the compiled flow of an automation with 5 actions
(3 http_requests to a local recording HTTP server, 2 log_messages) is called as
`await flow(return_state=True, idempotency_key=K)`. Per sample a NEW key K: the first run is timed, then the
re-run with the same K, each after a 1 s pause (as P2). One untimed warm-up pair first. Requests reaching the recording server during the
re-runs are counted (must be 0: no action executes again). The figure is median(re-run) / median(first run).

    python benchmarks/p6_rerun.py
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RecordingServer, median, prefect_server, result_line, say, temp_dir, use_server_in_process

NAME = "p6_rerun"
SAMPLES = 9
GOAL_RATIO = 0.3
HTTP_ACTIONS = 3
ACTIONS = 5
SETTLE_SECONDS = 1.0


def automation_yaml(target_url: str) -> str:
    return f"""name: {NAME}
description: P6 benchmark - five actions, three of them HTTP calls, re-run with the same occurrence key.
trigger:
  type: event
  event:
    event_type: custom
    custom_type: {NAME}
actions:
  - type: http_request
    name: call_one
    parameters:
      url: "{target_url}/p6/one/{{occurrence}}"
      method: POST
      json:
        automation: "{{automation_name}}"
  - type: log_message
    name: note_one
    parameters:
      message: "first call answered {{outputs.call_one.status_code}}"
  - type: http_request
    name: call_two
    parameters:
      url: "{target_url}/p6/two/{{occurrence}}"
      method: GET
  - type: http_request
    name: call_three
    parameters:
      url: "{target_url}/p6/three/{{occurrence}}"
      method: PUT
      json:
        previous: "{{outputs.call_two.status_code}}"
  - type: log_message
    name: done
    parameters:
      message: "all calls answered for {{occurrence}}"
"""


async def cached_actions(state: Any) -> int:
    """How many actions the run's summary (the flow's final state data) records as Cached; -1 if unreadable.

    A re-run answered from its completed occurrence lists the stored actions with status Cached."""
    try:
        summary = await state.aresult(raise_on_failure=False)
        return sum(1 for action in summary["actions"] if action.get("cached") or action.get("status") == "Cached")
    except Exception:  # noqa: BLE001 - informational only
        return -1


def flush_prefect_clients() -> None:
    """Send queued run logs and events before the server stops (else they fail at exit, noisily)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10.0)
    EventsWorker.drain_all(timeout=10.0)


def main() -> int:
    work = temp_dir("p6")
    config_dir = work / "configs" / "automations"
    config_dir.mkdir(parents=True)
    firsts: list[float] = []
    reruns: list[float] = []
    rerun_requests = 0
    not_cached = 0
    with RecordingServer() as recorder, prefect_server("p6") as server:
        (config_dir / f"{NAME}.yaml").write_text(automation_yaml(recorder.url), encoding="utf-8")
        use_server_in_process(server, work / "state")
        from compiler.language.catalog import load_catalog
        from flows.engine.flow_factory import build_flow

        catalog = load_catalog(config_dir)
        if catalog.errors:
            raise SystemExit("\n".join(map(str, catalog.errors)))
        compiled = build_flow(catalog.get(NAME))

        async def timed(key: str) -> tuple[float, object]:
            # As in P2: let the server finish recording the previous run (its events, logs and task
            # runs) first; measured back to back, the re-run mostly measured the server digesting the
            # first run it follows.
            await asyncio.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            state = await compiled(return_state=True, idempotency_key=key)  # type: ignore[call-overload]
            elapsed = time.perf_counter() - started
            if not state.is_completed():
                raise SystemExit(f"run with key {key} did not complete: {state}")
            return elapsed, state

        async def measure() -> int:
            nonlocal not_cached
            extra = 0
            for i in range(SAMPLES + 1):
                key = f"p6-{uuid.uuid4().hex}"
                before_first = recorder.count("/p6/")
                first, _ = await timed(key)
                executed_first = recorder.count("/p6/") - before_first
                if executed_first != HTTP_ACTIONS:
                    raise SystemExit(f"first run of {key} made {executed_first} requests, expected {HTTP_ACTIONS}")
                before_rerun = recorder.count("/p6/")
                again, state = await timed(key)
                repeated = recorder.count("/p6/") - before_rerun
                cached = await cached_actions(state)
                if i == 0:
                    say(f"warm-up: first {first:.3f}s, re-run {again:.3f}s, {repeated} request(s) during the re-run, "
                        f"actions Cached in the re-run: {cached}")
                    continue
                firsts.append(first)
                reruns.append(again)
                extra += repeated
                say(f"sample {i}/{SAMPLES}: first {first:.3f}s, re-run {again:.3f}s ({again / first:.2f}x), "
                    f"{repeated} request(s) during the re-run, {cached}/{ACTIONS} actions Cached")
                not_cached += ACTIONS - cached if cached >= 0 else 0
            return extra

        rerun_requests = asyncio.run(measure())
        flush_prefect_clients()
    ratio = median(reruns) / median(firsts)
    figure = (
        f"re-run {median(reruns):.3f}s vs first run {median(firsts):.3f}s (medians of {SAMPLES}) = {ratio:.2f}x; "
        f"requests during re-runs: {rerun_requests}, re-run actions not Cached: {not_cached}"
    )
    result_line("P6", "re-run of a completed occurrence (same idempotency key)", figure,
                f"0 actions executed again, <= {GOAL_RATIO:g}x the time", rerun_requests == 0 and not_cached == 0 and ratio <= GOAL_RATIO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
