"""P2: a compiled automation of 20 log_message actions vs a hand-written async Prefect flow with 20 tasks.

Both are real flow runs against one local Prefect server, in this process, one event loop, interleaved
(the order alternates each round), after one untimed warm-up run of each, with a 1 s pause before
each run so the server has recorded the previous one. The compiled flow runs as
`python -m compiler run` would run it (manual run, no parameters). The figure is
median(compiled) / median(hand-written).

    python benchmarks/p2_overhead.py
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, prefect_server, result_line, say, temp_dir, use_server_in_process

ACTIONS = 20
REPEATS = 15
GOAL_RATIO = 1.10
SETTLE_SECONDS = 1.0


def automation_yaml() -> str:
    actions = "\n".join(
        f"""  - type: log_message
    name: step_{i:02d}
    parameters:
      message: "step {i} of {{automation_name}}"
      level: info"""
        for i in range(ACTIONS)
    )
    return f"""name: p2_twenty_logs
description: Twenty log_message actions.
trigger:
  type: event
  event:
    event_type: custom
    custom_type: p2_bench
actions:
{actions}
"""


def main() -> int:
    work = temp_dir("p2")
    config_dir = work / "configs" / "automations"
    config_dir.mkdir(parents=True)
    (config_dir / "p2_twenty_logs.yaml").write_text(automation_yaml(), encoding="utf-8")
    with prefect_server("p2") as server:
        use_server_in_process(server, work / "state")
        from prefect import flow, get_run_logger, task

        from compiler.language.catalog import load_catalog
        from flows.engine.flow_factory import build_flow

        catalog = load_catalog(config_dir)
        if catalog.errors:
            raise SystemExit("\n".join(map(str, catalog.errors)))
        compiled = build_flow(catalog.get("p2_twenty_logs"))

        @task
        async def log_step(message: str) -> dict[str, str]:
            get_run_logger().info("%s", message)
            return {"message": message, "level": "info"}

        # Twenty named tasks, defined once (as a module would define them).
        steps = [log_step.with_options(name=f"step_{i:02d}") for i in range(ACTIONS)]

        @flow(name="p2-hand-written")
        async def hand_written() -> None:
            for i, step in enumerate(steps):
                await step(f"step {i} of p2-hand-written")

        async def timed(call: object) -> float:
            # Let the server finish recording the previous run (its events and logs) first: measured
            # back to back, each run mostly measured the server digesting the one before it.
            await asyncio.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            state = await call(return_state=True)  # type: ignore[operator]
            elapsed = time.perf_counter() - started
            if not state.is_completed():
                raise SystemExit(f"run did not complete: {state}")
            return elapsed

        async def measure() -> tuple[list[float], list[float]]:
            await timed(compiled)
            await timed(hand_written)
            ours: list[float] = []
            theirs: list[float] = []
            for i in range(REPEATS):
                # Alternate which goes first, so neither always runs right after the other's log flush.
                order = [("compiled", compiled, ours), ("hand", hand_written, theirs)]
                if i % 2:
                    order.reverse()
                for _, call, into in order:
                    into.append(await timed(call))
                say(f"round {i + 1}/{REPEATS}: compiled {ours[-1]:.3f}s  hand-written {theirs[-1]:.3f}s")
            from prefect.logging.handlers import APILogHandler

            await APILogHandler.aflush()  # before the server stops
            return ours, theirs

        ours, theirs = asyncio.run(measure())
    ratio = median(ours) / median(theirs)
    figure = f"compiled {median(ours):.3f}s vs hand-written {median(theirs):.3f}s (median of {REPEATS}) = {ratio:.2f}x"
    result_line("P2", "overhead of a compiled 20-action automation", figure, f"<= {GOAL_RATIO:.2f}x", ratio <= GOAL_RATIO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
