"""P1: `build` of 1,000 generated automations vs parsing the same files with PyYAML's C safe loader alone.

Both in this process, warm (one untimed round of each first: imports, the automation model, and the
project's outputs), interleaved; the figure is median(build) / median(parse), the build being the
everyday one: the project's outputs exist and are up to date, so the build validates and compiles all
1,000 files and compares every output with disk. Each round also builds into a fresh, empty folder
(every output written, as on a fresh checkout); that figure is reported alongside (file-system bound,
and noisy on a shared disk). The mix: event, time and condition triggers in turn, 3-5 actions of six
types each, templates, a few disabled.

    python benchmarks/p1_build.py
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, result_line, say, temp_dir

COUNT = 1000
REPEATS = 9
GOAL_RATIO = 3.0

_EVENT_TYPES = [
    ("chain_complete", "chain_name", "full_analysis"),
    ("chain_failed", "chain_name", "nightly_*"),
    ("agent_complete", "agent_name", "PG_HEALTH"),
    ("agent_failed", "agent_name", "PG_*"),
    ("registry_update", "entity_type", "chain_run"),
    ("artifact_created", "artifact_type", "security_report"),
    ("custom", "custom_type", "deployment_complete"),
]
_CRONS = ["0 2 * * *", "*/15 * * * *", "30 6 * * 1-5", "0 0 1 * *", "5 4 * * sun"]
_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"]
_PATHS = ["$.metrics.health_score", "$.metrics.open_issues", "$.summary.coverage", "$.agents[0].score"]


def _trigger(i: int, rng: random.Random) -> tuple[str, list[str]]:
    """YAML lines of the trigger and the template names its data offers."""
    kind = ("event", "time", "condition")[i % 3]
    cooldown = rng.choice([0, 60, 300, 3600])
    if kind == "event":
        event_type, field, value = _EVENT_TYPES[i % len(_EVENT_TYPES)]
        lines = ["trigger:", "  type: event", "  event:", f"    event_type: {event_type}", f'    {field}: "{value}"']
        if i % 2:
            lines.append("    status: completed")
        lines.append(f"  cooldown_seconds: {cooldown}")
        return "\n".join(lines), ["{event.payload.status}", "{event.id}", "{event.occurred}"]
    if kind == "time":
        lines = [
            "trigger:",
            "  type: time",
            "  time:",
            f'    cron_expression: "{_CRONS[i % len(_CRONS)]}"',
            f'    timezone_str: "{_ZONES[i % len(_ZONES)]}"',
            "    missed_runs:",
            f"      policy: {('last', 'all', 'none')[i % 3]}",
            "      grace_seconds: 600",
            f"  cooldown_seconds: {cooldown}",
        ]
        return "\n".join(lines), ["{schedule.scheduled_time}", "{date}", "{timestamp}"]
    lines = [
        "trigger:",
        "  type: condition",
        "  condition:",
        f"    metric_path: {_PATHS[i % len(_PATHS)]}",
        f"    operator: {('lt', 'gt', 'gte', 'lte')[i % 4]}",
        f"    threshold: {rng.randint(1, 99)}",
        f"    check_interval_seconds: {rng.choice([60, 300, 900])}",
        f"  cooldown_seconds: {cooldown}",
    ]
    return "\n".join(lines), ["{condition.value}", "{condition.threshold}", "{datetime}"]


def _action(kind: str, name: str, ref: str, previous: str | None) -> str:
    earlier = f" after {{outputs.{previous}.status_code}}" if previous and kind == "log_message" else ""
    if kind == "log_message":
        return f"""  - type: log_message
    name: {name}
    parameters:
      message: "{{automation_name}} saw {ref}{earlier}"
      level: info"""
    if kind == "http_request":
        return f"""  - type: http_request
    name: {name}
    parameters:
      url: "https://hooks.example.com/{{automation_name}}/{name}"
      method: POST
      headers:
        Authorization: "Bearer {{secret:hook_token}}"
      json:
        run: "{{run_id}}"
        value: "{ref}"
    retry_count: 3
    retry_delay_seconds: 2
    retry_backoff: exponential
    timeout_seconds: 30"""
    if kind == "send_notification":
        return f"""  - type: send_notification
    name: {name}
    parameters:
      message: "Run {{run_id}} of {{automation_name}}: {ref}"
      level: warning
      channels: [log, registry]
    continue_on_failure: true"""
    if kind == "update_registry":
        return f"""  - type: update_registry
    name: {name}
    parameters:
      entity_type: automation_run
      entity_id: "{{automation_name}}"
      operation: upsert
      data:
        occurrence: "{{occurrence}}"
        seen: "{ref}"
    idempotency:
      key: "{{occurrence}}-{name}"
      expire_seconds: 86400"""
    if kind == "create_artifact":
        return f"""  - type: create_artifact
    name: {name}
    parameters:
      artifact_type: report
      filename: "reports/{{automation_name}}_{{timestamp}}.json"
      description: "Report of {{automation_name}}"
      register_in_registry: true
    continue_on_failure: true"""
    return f"""  - type: execute_agent
    name: {name}
    parameters:
      agent_name: PG_DISCOVERY
      repository_root: "{{repository_root}}"
      mode: dry_run
    timeout_seconds: 600"""


_KINDS = ["log_message", "http_request", "send_notification", "update_registry", "create_artifact", "execute_agent"]


def generate(folder: Path, count: int) -> None:
    rng = random.Random(42)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        name = f"bench_automation_{i:04d}"
        trigger, refs = _trigger(i, rng)
        n_actions = 3 + i % 3
        actions: list[str] = []
        previous: str | None = None
        for j in range(n_actions):
            kind = _KINDS[(i + j) % len(_KINDS)]
            action_name = f"{kind}_{j}"
            actions.append(_action(kind, action_name, refs[j % len(refs)], previous if previous and previous.startswith("http") else None))
            previous = action_name
        text = f"""# Generated for the P1 benchmark ({(i % 3 and 'variant') or 'base'}).
name: {name}
description: Benchmark automation number {i}, with a {('event', 'time', 'condition')[i % 3]} trigger.
version: "1.{i % 7}"
status: {'disabled' if i % 50 == 49 else 'enabled'}
tags: [bench, team-{i % 5}]
context:
  repository_root: "."
  owner: team-{i % 5}
overlap: {('allow', 'queue', 'skip')[i % 3]}

{trigger}

actions:
""" + "\n\n".join(actions) + "\n"
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


def parse_all(files: list[Path]) -> float:
    import yaml

    started = time.perf_counter()
    for path in files:
        with open(path, encoding="utf-8") as f:
            yaml.load(f, Loader=yaml.CSafeLoader)
    return time.perf_counter() - started


def build_once(config_dir: Path, root: Path) -> tuple[float, int]:
    """Seconds for one build into ``root`` and how many files it wrote."""
    from compiler.commands.build import build
    from compiler.language.deploy_config import BuildOptions

    root.mkdir(exist_ok=True)
    started = time.perf_counter()
    result = build(config_dir, root, BuildOptions())
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit("build failed:\n" + "\n".join(str(d) for d in result.errors[:20]))
    return elapsed, len(result.written)


def main() -> int:
    work = temp_dir("p1")
    try:
        config_dir = work / "configs" / "automations"
        generate(config_dir, COUNT)
        files = sorted(config_dir.glob("*.yaml"))
        scratch = work / "out"
        scratch.mkdir()
        # Warm: imports, the automation model, caches; one untimed round of each.
        build_once(config_dir, scratch / "warm-up")
        parse_all(files)
        parses: list[float] = []
        rebuilds: list[float] = []
        fresh: list[float] = []
        for i in range(REPEATS):
            parses.append(parse_all(files))
            # The steady state: build again into a project whose outputs exist and are up to date
            # (everything is validated, compiled and compared; nothing needs writing).
            elapsed, wrote = build_once(config_dir, scratch / "warm-up")
            assert wrote == 0, wrote
            rebuilds.append(elapsed)
            # A fresh checkout: every output written. Outputs stay until the end: deleting 1,000 files
            # made the next round's writes wait on the file system's journal (0.1 s -> 0.9 s measured).
            elapsed, wrote = build_once(config_dir, scratch / f"fresh-{i}")
            fresh.append(elapsed)
            say(f"round {i + 1}/{REPEATS}: parse {parses[-1]:.3f}s  rebuild {rebuilds[-1]:.3f}s  fresh {fresh[-1]:.3f}s ({wrote} files)")
        ratio = median(rebuilds) / median(parses)
        fresh_ratio = median(fresh) / median(parses)
        figure = (
            f"build {median(rebuilds):.2f}s vs C-parse {median(parses):.2f}s for {COUNT} files = {ratio:.2f}x "
            f"(into a fresh folder, writing every output: {median(fresh):.2f}s = {fresh_ratio:.2f}x)"
        )
        result_line("P1", "build of 1,000 automations", figure, f"<= {GOAL_RATIO:g}x the parse time", ratio <= GOAL_RATIO)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
