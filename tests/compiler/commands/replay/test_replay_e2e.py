"""``replay`` against the session's real Prefect server: the project deployed with `python -m compiler deploy`, events
and condition checks posted with an ``occurred`` hours in the past (the first checks in the previous release's
per-automation form, the others as group checks record them now); counts, cooldown suppression, the deployed
version against an edited working tree for event, time and condition automations, the exit codes, a check of the
group's real watcher flow recorded and replayed, and a server left exactly as it was.

The server is shared by the session: this module's automations, labels and chain names carry its own tag.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from compiler.commands.cli import main
from compiler.language.condition_groups import check_id, group_name
from compiler.language.model.triggers import ConditionSpec, MetricsSource
from compiler.language.prefect_names import CONDITION_CHECKED_EVENT, CONDITION_GROUP_LABEL
from flows.conditions.check_events import group_checked_events
from flows.conditions.evaluate import evaluate_condition
from flows.events.publish import build_event
from tests.prefect_support import ROOT, project_runtime, runs_of_deployment, using_api, wait_for

STORED_TIMEOUT_SECONDS = 120.0
HEALTH = {"metric_path": "$.metrics.health_score", "operator": "lt", "threshold": 50}
CHECK_VALUES = [60, 45, 48, 55, 30, 44, 52, 49]  # one check every 10 minutes from the window's start
PREVIOUS_RELEASE_CHECKS = 3  # the first ones as the previous release recorded them (servers keep events for days)


def _bodies(tag: str, metrics: Path) -> dict[str, str]:
    say = "actions:\n  - type: log_message\n    name: say\n    parameters: {message: \"%s\"}\n"
    return {
        f"{tag}_event": (
            f"trigger:\n  type: event\n  event: {{event_type: chain_complete, chain_name: {tag}-chain}}\n  cooldown_seconds: 600\n"
            + say % "chain {event.payload.chain_name} {event.payload.status}"
        ),
        f"{tag}_cron": "trigger:\n  type: time\n  time: {cron_expression: '30 * * * *', timezone_str: UTC}\n" + say % "at {schedule.scheduled_time}",
        f"{tag}_cond": (
            "trigger:\n  type: condition\n  condition:\n    metric_path: $.metrics.health_score\n    operator: lt\n    threshold: 50\n"
            f"    check_interval_seconds: 60\n    source: {{type: file, path: {metrics}}}\n  cooldown_seconds: 1800\n"
            + say % "health {condition.value} below {condition.threshold}"
        ),
    }


def cli(project: Path, *args: str) -> tuple[int, str, str]:
    """``python -m compiler --config-dir <project>/configs/automations ARGS`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config-dir", str(project / "configs" / "automations"), *args])
    return code, out.getvalue(), err.getvalue()


def _post(api_url: str, events: list[dict[str, Any]]) -> None:
    """POST /events, then wait until Prefect stored every one (its persister writes in the background)."""
    assert httpx.post(f"{api_url}/events", json=events, timeout=60).status_code == 204
    ids = [e["id"] for e in events]
    deadline = time.monotonic() + STORED_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        body = {"filter": {"id": {"id": ids}, "occurred": {"since": "2020-01-01T00:00:00Z"}}, "limit": 1}
        if httpx.post(f"{api_url}/events/filter", json=body, timeout=30).json()["total"] == len(ids):
            return
        time.sleep(0.5)
    raise AssertionError(f"Prefect did not store {len(ids)} posted events within {STORED_TIMEOUT_SECONDS:.0f} s")


def _chain(at: datetime, chain: str) -> dict[str, Any]:
    built = build_event("chain_complete", {"chain_name": chain}, {"chain_name": chain, "status": "completed"})
    return {"id": built.id, "occurred": at.isoformat(), "event": built.event, "resource": built.resource, "payload": built.payload}


def _group(metrics: Path) -> str:
    return group_name(MetricsSource(type="file", path=str(metrics)), 60)


def _check(at: datetime, name: str, value: int, metrics: Path) -> dict[str, Any]:
    """What a check of the deployed condition's group records (flows/conditions/check_events.py): its only member."""
    spec = ConditionSpec.model_validate(HEALTH)
    document = {"metrics": {"health_score": value}}
    group = _group(metrics)
    checked = [(name, spec, evaluate_condition(spec, document).fired)]
    (event,) = group_checked_events(group, 60, check_id(group, at), checked, document)
    return {"id": str(uuid.uuid4()), "occurred": at.isoformat(), **event}


def _previous_release_check(at: datetime, name: str, value: int) -> dict[str, Any]:
    """One check as the previous release's per-automation watcher recorded it (written out: no code makes it now)."""
    holds = value < HEALTH["threshold"]
    payload = {
        "automation": name, "check_id": str(uuid.uuid4()), "condition": {**HEALTH, "match": "any"},
        "matches": [{"path": "metrics.health_score", "value": value}], "truncated": False, "holds": holds,
        "reason": f"$.metrics.health_score = {value}: lt 50 {'holds' if holds else 'does not hold'}",
    }
    resource = {"prefect.resource.id": f"platform-god.condition.{name}", "platform-god.automation": name}
    return {"id": str(uuid.uuid4()), "occurred": at.isoformat(), "event": CONDITION_CHECKED_EVENT, "resource": resource, "payload": payload}


@pytest.fixture(scope="module")
def deployed(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """This module's project deployed into its own pool, with its events of a past 3-hour window stored."""
    tag = f"rp{uuid.uuid4().hex[:6]}"
    base = tmp_path_factory.mktemp("replay")
    project = base / "project"
    folder = project / "configs" / "automations"
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "configs" / "chains", project / "configs" / "chains")
    metrics = project / "metrics.json"
    metrics.write_text(json.dumps({"metrics": {"health_score": 20}}), encoding="utf-8")
    for name, body in _bodies(tag, metrics).items():
        (folder / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    (project / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    start = (datetime.now(UTC) - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    chain = f"{tag}-chain"
    events = [_chain(start + timedelta(minutes=m), chain) for m in (0, 5, 20, 21, 60)]
    events.append(_chain(start + timedelta(minutes=30), f"{tag}-other"))
    for i, value in enumerate(CHECK_VALUES):
        at = start + timedelta(minutes=10 * i)
        events.append(_previous_release_check(at, f"{tag}_cond", value) if i < PREVIOUS_RELEASE_CHECKS else _check(at, f"{tag}_cond", value, metrics))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_API_URL", prefect_server)
        mp.setenv("PREFECT_HOME", str(base / "prefect-home"))
        code, out, err = cli(project, "deploy", "--pool", f"pool-{tag}", "--project-root", str(project))
        assert code == 0, out + err
        _post(prefect_server, events)
        # Prefect's own trigger fires on the posted events too (their `occurred` in the past): let it finish.
        with using_api(prefect_server):
            asyncio.run(wait_for(lambda: runs_of_deployment(f"{tag}_event/{tag}_event"), lambda runs: len(runs) >= 3, 120))
        yield {"tag": tag, "project": project, "pool": f"pool-{tag}", "api": prefect_server, "base": base, "group": _group(metrics),
               "window": ["--since", start.isoformat(), "--until", (start + timedelta(hours=3)).isoformat()]}


def replay(deployed: dict[str, Any], *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(deployed["project"], "replay", "--pool", deployed["pool"], "--json", *deployed["window"], *args)
    assert code in (0, 2), err
    return code, json.loads(out)


def by_name(data: dict[str, Any], tag: str) -> dict[str, dict[str, Any]]:
    return {a["name"].removeprefix(f"{tag}_"): a for a in data["automations"]}


@contextlib.contextmanager
def edited(project: Path, name: str, old: str, new: str) -> Iterator[None]:
    path = project / "configs" / "automations" / f"{name}.yaml"
    saved = path.read_text(encoding="utf-8")
    assert old in saved
    path.write_text(saved.replace(old, new), encoding="utf-8")
    try:
        yield
    finally:
        path.write_text(saved, encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Counts and cooldown, with nothing edited: each automation fires as its deployed version did (exit 0)


def test_an_unchanged_working_tree_replays_as_deployed(deployed: dict[str, Any]) -> None:
    code, data = replay(deployed)
    found = by_name(data, deployed["tag"])
    assert code == 0 and {a["verdict"] for a in found.values()} == {"same"}
    assert {n: a["deployed"]["source"] for n, a in found.items()} == {"event": "definition", "cron": "definition", "cond": "definition"}
    assert (data["events"], data["condition_checks"]) == (6, len(CHECK_VALUES))


@pytest.mark.parametrize(
    ("kind", "would_fire", "suppressed"),
    [("event", 3, 2), ("cron", 3, 0), ("cond", 3, 2)],
)
def test_counts_and_cooldown_suppression(deployed: dict[str, Any], kind: str, would_fire: int, suppressed: int) -> None:
    working = by_name(replay(deployed)[1], deployed["tag"])[kind]["working_tree"]
    assert (working["would_fire"], working["suppressed"]) == (would_fire, suppressed)


def test_the_first_firings_show_the_triggering_event_and_the_rendered_parameters(deployed: dict[str, Any]) -> None:
    tag = deployed["tag"]
    occurrences = by_name(replay(deployed, "--show", "2")[1], tag)["event"]["working_tree"]["occurrences"]
    assert len(occurrences) == 2
    first = occurrences[0]
    assert first["event"]["resource"]["platform-god.chain-name"] == f"{tag}-chain"
    assert first["actions"][0]["parameters"]["message"] == f"chain {tag}-chain completed"


def test_prefects_own_trigger_fired_as_often_as_the_replayed_deployed_version(deployed: dict[str, Any]) -> None:
    # The deployment trigger saw the same posted events (with `within` = the cooldown): the same count.
    tag = deployed["tag"]
    expected = by_name(replay(deployed)[1], tag)["event"]["deployed"]["outcome"]["would_fire"]
    with using_api(deployed["api"]):
        created = asyncio.run(runs_of_deployment(f"{tag}_event/{tag}_event"))
    assert len(created) == expected == 3


# --------------------------------------------------------------------------------------------------
# The working tree against the deployed version: exit 2, and --changed lists only what differs

EDITS = [
    pytest.param("event", "cooldown_seconds: 600", "cooldown_seconds: 60", (5, 0), 3, id="event-cooldown"),
    pytest.param("event", "chain_name: {tag}-chain", "chain_name: {tag}-*", (4, 2), 3, id="event-filter-widened"),
    pytest.param("cron", "'30 * * * *'", "'*/20 * * * *'", (10, 0), 3, id="cron"),
    pytest.param("cron", "timezone_str: UTC", "timezone_str: Asia/Kolkata", (4, 0), 3, id="timezone"),
    pytest.param("cond", "threshold: 50", "threshold: 46", (2, 1), 3, id="condition-threshold"),
]


@pytest.mark.parametrize(("kind", "old", "new", "working", "deployed_count"), EDITS)
def test_an_edited_automation_differs_from_its_deployed_version(
    deployed: dict[str, Any], kind: str, old: str, new: str, working: tuple[int, int], deployed_count: int
) -> None:
    tag = deployed["tag"]
    with edited(deployed["project"], f"{tag}_{kind}", old.format(tag=tag), new.format(tag=tag)):
        code, data = replay(deployed)
        changed_code, changed = replay(deployed, "--changed")
    result = by_name(data, tag)[kind]
    assert (code, result["verdict"], result["changed"]) == (2, "differs", True)
    assert (result["working_tree"]["would_fire"], result["working_tree"]["suppressed"]) == working
    assert result["deployed"]["outcome"]["would_fire"] == deployed_count
    assert (changed_code, [a["name"] for a in changed["automations"]]) == (2, [f"{tag}_{kind}"])


def test_a_timezone_change_fires_as_often_but_at_other_times(deployed: dict[str, Any]) -> None:
    tag = deployed["tag"]
    with edited(deployed["project"], f"{tag}_cron", "timezone_str: UTC", "timezone_str: Asia/Kolkata"):
        result = by_name(replay(deployed)[1], tag)["cron"]
    differences = result["differences"]
    assert (differences["only_working_tree"], differences["only_deployed"]) == (4, 3)
    # 30 past each hour in UTC, deployed; 30 past in Kolkata (UTC+05:30) is on the hour in UTC.
    assert all(f["time"].endswith(":30:00+00:00") for f in differences["first_only_deployed"])
    assert all(f["time"].endswith(":00:00+00:00") for f in differences["first_only_working_tree"])


def test_without_the_definition_folder_the_trigger_is_read_from_the_server(deployed: dict[str, Any]) -> None:
    definitions = deployed["project"] / "deployments"
    hidden = deployed["project"] / "deployments.hidden"
    definitions.rename(hidden)
    try:
        code, data = replay(deployed)
    finally:
        hidden.rename(definitions)
    found = by_name(data, deployed["tag"])
    assert code == 0 and {a["deployed"]["source"] for a in found.values()} == {"server"}
    assert {a["verdict"] for a in found.values()} == {"same"}


def test_a_text_report_marks_what_differs(deployed: dict[str, Any]) -> None:
    tag = deployed["tag"]
    with edited(deployed["project"], f"{tag}_cond", "threshold: 50", "threshold: 46"):
        code, out, err = cli(deployed["project"], "replay", "--pool", deployed["pool"], *deployed["window"])
    assert (code, err) == (2, "")
    lines = out.splitlines()
    assert f"  ~ {tag}_cond (condition): would fire 2 (1 more suppressed by the cooldown); deployed version: 3; runs in the window: 0" in lines, out
    assert f"  = {tag}_event (event): would fire 3 (2 more suppressed by the cooldown); deployed version: 3; runs in the window: 0" in lines, out
    assert f"  = {tag}_cron (time): would fire 3; deployed version: 3; runs in the window: 0" in lines, out
    assert '        say: {"level": "info", "message": "health 45 below 46"}' in lines, out
    assert any(line.startswith("      would not fire on 1 occurrence(s) the deployed version fired on (first ") for line in lines), out
    assert lines[-1].startswith("Replay: 3 automation(s): 1 would behave differently from the deployed version, 2 the same.")


# --------------------------------------------------------------------------------------------------
# Exit 1 on errors, in one line


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--since", "yesterday"], {}, "replay: 'yesterday' is not a time"),
        (["nosuch"], {}, "replay: no automation named 'nosuch'"),
        ([], {"PREFECT_API_URL": "http://127.0.0.1:9/api"}, "replay failed: cannot reach the Prefect API at http://127.0.0.1:9/api"),
    ],
    ids=["bad-since", "unknown-name", "unreachable"],
)
def test_errors_exit_1_in_one_line(
    deployed: dict[str, Any], args: list[str], env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code, out, err = cli(deployed["project"], "replay", "--pool", deployed["pool"], *args)
    assert (code, out) == (1, "") and err.startswith(message) and "Traceback" not in err and len(err.splitlines()) == 1


def test_a_window_longer_than_the_server_keeps_says_so(deployed: dict[str, Any]) -> None:
    code, out, err = cli(deployed["project"], "replay", f"{deployed['tag']}_cron", "--pool", deployed["pool"], "--since", "10d", "--json")
    assert code in (0, 2), err
    (note,) = json.loads(out)["notes"]
    assert note.startswith("the window is larger than what the server keeps: events for 7 days (PREFECT_EVENTS_RETENTION_PERIOD)")
    assert note.endswith("(3 days of the window)")


# --------------------------------------------------------------------------------------------------
# What happened for real: a check of the group's watcher flow (as a worker runs it), recorded by itself, a run in the window


def _stored_checks(api_url: str, group: str, since: datetime) -> int:
    body = {"filter": {"occurred": {"since": since.isoformat()}, "event": {"name": [CONDITION_CHECKED_EVENT]},
                       "resource": {"labels": {CONDITION_GROUP_LABEL: [group]}}}, "limit": 1}
    return int(httpx.post(f"{api_url}/events/filter", json=body, timeout=30).json()["total"])


def test_a_real_group_watcher_check_is_recorded_and_replayed(deployed: dict[str, Any]) -> None:
    from flows.conditions.watcher import condition_watcher

    name, group, started = f"{deployed['tag']}_cond", deployed["group"], datetime.now(UTC)
    with using_api(deployed["api"]), project_runtime(deployed["project"], deployed["base"] / "state"):
        state = asyncio.run(condition_watcher(group=group, return_state=True))  # type: ignore[call-overload]
    assert state.is_completed(), state.message
    deadline = time.monotonic() + STORED_TIMEOUT_SECONDS
    while _stored_checks(deployed["api"], group, started) < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    code, out, err = cli(deployed["project"], "replay", name, "--pool", deployed["pool"], "--since", started.isoformat(), "--json")
    data = json.loads(out)
    (result,) = data["automations"]
    assert (code, data["condition_checks"], result["working_tree"]["would_fire"]) == (0, 1, 1), err
    occurrence = result["working_tree"]["occurrences"][0]
    assert occurrence["condition"]["value"] == 20 and occurrence["occurrence"].startswith(f"condition:{group}@")
    # The check started a run of the automation's deployment (no worker runs it here): a run in the window.
    assert result["runs"]["total"] == 1


# --------------------------------------------------------------------------------------------------
# Read-only: the server holds exactly what it held before


async def _snapshot(api_url: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deployments = await client.read_deployments(limit=200)
        limits = await client.read_global_concurrency_limits(limit=200)
        runs: list[Any] = []
        while len(page := await client.read_flow_runs(limit=200, offset=len(runs))) == 200 or page:
            runs.extend(page)
            if len(page) < 200:
                break
        # The scheduler keeps creating runs of the deployed schedules on its own; any other run would be new.
        runs = [r for r in runs if not r.auto_scheduled]
        return {
            "deployments": sorted((str(d.id), str(d.updated), d.paused) for d in deployments),
            "automations": sorted((str(a.id), a.name, a.enabled) for a in await client.read_automations()),
            "limits": sorted((lim.name, lim.limit, lim.active_slots, lim.slot_decay_per_second) for lim in limits),
            "work_pools": sorted(p.name for p in await client.read_work_pools()),
            "variables": sorted(v.name for v in await client.read_variables()),
            "blocks": sorted(str(b.id) for b in await client.read_block_documents()),
            "runs": sorted(str(r.id) for r in runs),
            "platform_god_events": (await client.request("POST", "/events/filter", json={
                "filter": {"occurred": {"since": "2020-01-01T00:00:00Z"}, "event": {"prefix": ["platform-god."]}}, "limit": 1,
            })).json()["total"],
        }


def test_replay_changes_nothing_on_the_server(deployed: dict[str, Any]) -> None:
    def snapshot() -> dict[str, Any]:
        with using_api(deployed["api"]):
            return asyncio.run(_snapshot(deployed["api"]))

    # Let the server finish what it does on its own (trigger runs of the posted events): 3 equal reads in a row.
    before, same = snapshot(), 0
    for _ in range(30):
        time.sleep(1)
        again = snapshot()
        same = same + 1 if again == before else 0
        before = again
        if same == 2:
            break
    tag = deployed["tag"]
    with edited(deployed["project"], f"{tag}_cond", "threshold: 50", "threshold: 46"):
        for args in ([], ["--changed"], ["--since", "10d"]):
            replay(deployed, *args)
    assert snapshot() == before
