"""P11: `python -m compiler replay --since 24h` of 1,000 automations on 100,000 stored events, the whole command.

Set-up (not timed): P1's 1,000 generated automations (event, time and condition triggers in turn, a few
disabled) in a project folder; a local Prefect server (SQLite) holding 100,000 events of the last 23 hours,
posted in batches through POST /api/events with their `occurred` in the past: 15,000 recorded condition checks
(each condition automation checked every 30 minutes, in the events checks emit: one per check of a condition group,
holding every member, flows/conditions/check_events.py, built with the same code; P1's conditions are 3 groups, so
~140 events), the rest events of the kinds and labels the automations filter on (some matching, some not);
then every automation deployed the way `serve` deploys (deployments, their event triggers, cooldown limits),
and 100 of them edited in the working tree (thresholds, cooldowns, crons) so that they differ from the
deployed version. The server runs without its scheduler and triggers services, which would otherwise create
runs from the deployments and the events while the replay is measured.

Measured, REPEATS times: the replay command as a process (start-up, imports, every read of the server:
events, deployments, runs; the evaluation; JSON output), its wall time against the goal; next to it the
command's own split (reading vs evaluating) and the CPU seconds of the command and of the server. Then the
pure evaluation alone (the history indexed, every automation replayed as working tree and deployed
version), in this process on the events read once, median of REPEATS.

    python benchmarks/p11_replay.py
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PROJECT_ROOT, PYTHON, median, prefect_server, result_line, say, temp_dir, use_server_in_process
from p1_build import generate

AUTOMATIONS = 1000
STORED = 100_000  # events on the server: the group-check events, and events of P1's kinds for the rest
CHECKS = 15_000  # member checks (each condition automation's checks), in far fewer group-check events
EDITED = 100
REPEATS = 3
GOAL_SECONDS = 30.0
POST_BATCH = 1000
DEPLOY_PARTS = 3
AHEAD = 3000  # posted but not yet stored: the server's in-memory queue drops events beyond 10,000

# Label values per event kind: the first ones match P1's filters, the last one none.
_KINDS = [
    ("chain_complete", "chain_name", ["full_analysis", "nightly_db", "weekly"]),
    ("chain_failed", "chain_name", ["nightly_db", "nightly_api", "full_analysis"]),
    ("agent_complete", "agent_name", ["PG_HEALTH", "PG_DISCOVERY", "other_agent"]),
    ("agent_failed", "agent_name", ["PG_SECURITY_SCAN", "PG_HEALTH", "other_agent"]),
    ("registry_update", "entity_type", ["chain_run", "health_alert", "other"]),
    ("artifact_created", "artifact_type", ["security_report", "report", "other"]),
    ("custom", "custom_type", ["deployment_complete", "github.push", "other"]),
]


def _events(rng: random.Random, start: datetime, span: float, count: int) -> list[dict[str, Any]]:
    from flows.events.publish import build_event

    found = []
    for i in range(count):
        kind, label, values = _KINDS[i % len(_KINDS)]
        value = rng.choice(values)
        status = rng.choice(["completed", "completed", "failed"])
        labels = {label: value, **({"entity_id": f"e{i % 50}"} if kind == "registry_update" else {})}
        payload = {label: value, "status": status, "duration_ms": rng.randint(10, 90_000), "summary": f"run {i}"}
        built = build_event(kind, labels, payload)
        occurred = start + timedelta(seconds=span * i / count)
        found.append({"id": built.id, "occurred": occurred.isoformat(), "event": built.event, "resource": built.resource, "payload": built.payload})
    return found


def _checks(catalog: Any, rng: random.Random, start: datetime, span: float) -> list[dict[str, Any]]:
    """The events checks record (one per check of a condition group, every member in it), each group checked
    every 30 minutes: CHECKS member checks in all."""
    from compiler.language.condition_groups import check_id, condition_groups
    from flows.conditions.check_events import group_checked_events
    from flows.conditions.evaluate import evaluate_condition

    groups = condition_groups(loaded.automation for loaded in catalog.automations.values())
    per = CHECKS // sum(len(group.members) for group in groups.values())
    found = []
    for group in groups.values():
        for k in range(per):
            value = rng.randint(0, 100)
            document = {"metrics": {"health_score": value, "open_issues": value}, "summary": {"coverage": value}, "agents": [{"score": value}]}
            occurred = start + timedelta(seconds=span * (k + rng.random()) / per)
            checked = [(m.name, m.condition, evaluate_condition(m.condition, document).fired) for m in group.members]
            for event in group_checked_events(group.name, group.interval_seconds, check_id(group.name, occurred), checked, document):
                found.append({"id": str(uuid.uuid4()), "occurred": occurred.isoformat(), **event})
    return found


def _stored(client: httpx.Client, since: datetime) -> int:
    body = {"filter": {"occurred": {"since": since.isoformat()}, "event": {"prefix": ["platform-god."]}}, "limit": 1}
    return int(client.post("/events/filter", json=body).json()["total"])


def _post_all(api_url: str, events: list[dict[str, Any]], since: datetime) -> float:
    """POST in batches, never more than AHEAD events ahead of what the server stored; seconds until all are stored."""
    started = time.perf_counter()
    with httpx.Client(base_url=api_url, timeout=120) as client:
        for first in range(0, len(events), POST_BATCH):
            batch = events[first : first + POST_BATCH]
            response = client.post("/events", json=batch)
            response.raise_for_status()
            posted = first + len(batch)
            while posted - _stored(client, since) > AHEAD:
                time.sleep(0.5)
            if posted % 10_000 == 0:
                say(f"  {posted:,} events posted ({time.perf_counter() - started:.0f} s)")
        while _stored(client, since) < len(events):
            time.sleep(1)
    return time.perf_counter() - started


def _edit(config_dir: Path, rng: random.Random) -> None:
    """EDITED automations changed in the working tree after the deploy: what replay is for."""
    import re

    files = sorted(config_dir.glob("*.yaml"))
    for path in rng.sample(files, EDITED):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"threshold: (\d+)", lambda m: f"threshold: {int(m.group(1)) + 5}", text)
        text = re.sub(r"cooldown_seconds: (\d+)", lambda m: f"cooldown_seconds: {int(m.group(1)) + 120}", text)
        text = text.replace('cron_expression: "*/15 * * * *"', 'cron_expression: "*/10 * * * *"')
        path.write_text(text, encoding="utf-8")


async def _deploy(catalog: Any) -> dict[Any, Any]:
    """`serve`'s deploy (compiler/commands/serve/command.py) of every automation, in DEPLOY_PARTS parts at a time: one part waits
    on the server while another builds its flows (the server serialises the writes anyway)."""
    from compiler.commands.serve import deploy_for_serving
    from compiler.language.catalog import Catalog

    names = sorted(catalog.automations)
    parts = [Catalog(automations={n: catalog.automations[n] for n in names[i::DEPLOY_PARTS]}) for i in range(DEPLOY_PARTS)]
    deployed: dict[Any, Any] = {}
    for found in await asyncio.gather(*(deploy_for_serving(part) for part in parts)):
        deployed.update(found)
    return deployed


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _replay_process(project: Path, env: dict[str, str], server_pid: int) -> tuple[float, float, float, dict[str, Any]]:
    """(wall, command CPU, server CPU, JSON) of one `replay --since 24h --json` process."""
    before, server_before = resource.getrusage(resource.RUSAGE_CHILDREN), _server_cpu(server_pid)
    started = time.perf_counter()
    done = subprocess.run([PYTHON, "-m", "compiler", "replay", "--since", "24h", "--json"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=1800, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 2):
        raise RuntimeError(f"replay exited {done.returncode}:\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, _server_cpu(server_pid) - server_before, json.loads(done.stdout)


def _pure_evaluation(project: Path, api_url: str) -> tuple[list[float], list[float], int]:
    """Wall and CPU seconds of indexing + replaying every automation (both versions) on events read once; the events count."""
    from compiler.commands.replay.command import _patterns, _read
    from compiler.commands.replay.compare import replay_all
    from compiler.commands.replay.fetch import event_prefixes
    from compiler.commands.replay.history import History
    from compiler.commands.replay.window import parse_window
    from compiler.language.catalog import load_catalog

    catalog = load_catalog(project / "configs" / "automations")
    selected = list(catalog.automations.values())
    window = parse_window("24h", None)
    names = sorted(catalog.automations)
    server = asyncio.run(_read(api_url, window=window, names=names, work_pool="automations",
                               prefixes=event_prefixes(_patterns(selected))))
    timings, cpu = [], []
    for _ in range(REPEATS):
        started, started_cpu = time.perf_counter(), time.process_time()
        history = History.build(window, server.events)
        replay_all(selected, history, server.observed, server.runs)
        timings.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        say(f"  pure evaluation: {timings[-1]:.2f} s ({cpu[-1]:.2f} s CPU)")
    return timings, cpu, len(server.events)


def main() -> int:
    os.environ.update({
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
    })
    work = temp_dir("p11")
    rng = random.Random(11)
    try:
        project = work / "project"
        config_dir = project / "configs" / "automations"
        generate(config_dir, AUTOMATIONS)
        shutil.copytree(PROJECT_ROOT / "configs" / "chains", project / "configs" / "chains")
        (project / "flows").symlink_to(PROJECT_ROOT / "flows", target_is_directory=True)
        with prefect_server("p11") as server:
            use_server_in_process(server, work / "state")
            from compiler.language.catalog import load_catalog

            catalog = load_catalog(config_dir)
            end = datetime.now(UTC)
            start, span = end - timedelta(hours=23), 23 * 3600.0
            checks = _checks(catalog, rng, start, span)
            events = _events(rng, start, span, STORED - len(checks)) + checks
            rng.shuffle(events)
            say(f"posting {len(events):,} events ({len(events) - len(checks):,} events, {len(checks):,} group checks) ...")
            loaded = _post_all(server.api_url, events, start - timedelta(minutes=1))
            say(f"stored after {loaded:.0f} s ({len(events) / loaded:.0f} events/s)")
            started = time.perf_counter()
            deployed = asyncio.run(_deploy(catalog))
            say(f"deployed {len(deployed)} deployments the way `serve` does in {time.perf_counter() - started:.0f} s")
            _edit(config_dir, rng)
            env = dict(server.client_env(), PYTHONPATH=str(PROJECT_ROOT), AUTOMATIONS_STATE_DIR=str(work / "state"))
            walls, cpus, server_cpus, splits = [], [], [], []
            data: dict[str, Any] = {}
            for i in range(REPEATS):
                wall, cpu, server_cpu, data = _replay_process(project, env, server.pid)
                walls.append(wall)
                cpus.append(cpu)
                server_cpus.append(server_cpu)
                splits.append(data["seconds"])
                say(f"  replay {i + 1}/{REPEATS}: {wall:.1f} s wall, command {cpu:.1f} s CPU, server {server_cpu:.1f} s CPU; "
                    f"inside: loading {data['seconds']['load']:.1f} s, reading {data['seconds']['read']:.1f} s "
                    f"(events {data['seconds'].get('read_events', 0):.1f} s), "
                    f"evaluating {data['seconds']['evaluate']:.1f} s")
            pure, pure_cpu, read = _pure_evaluation(project, server.api_url)
        summary = data["summary"]
        figure = (
            f"median {median(walls):.1f} s for {read:,} events ({data['condition_checks']:,} condition checks) x "
            f"{summary['automations']} automations ({summary['differs']} differ, {summary['same']} same, {summary['unknown']} unknown): "
            f"loading {median([s['load'] for s in splits]):.1f} s, reading {median([s['read'] for s in splits]):.1f} s, "
            f"evaluating {median([s['evaluate'] for s in splits]):.1f} s; "
            f"pure evaluation {median(pure):.2f} s ({median(pure_cpu):.2f} s CPU); "
            f"CPU: command {median(cpus):.1f} s, server {median(server_cpus):.1f} s"
        )
        result_line("P11", "replay of 1,000 automations on 100,000 events", figure, f"<= {GOAL_SECONDS:g} s", median(walls) <= GOAL_SECONDS)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
