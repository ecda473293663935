"""``plan`` against the session's real Prefect server: a fresh deploy plans clean, every kind of change is
reported field by field, and planning changes nothing on the server or on disk.

The server is shared by the whole session, so other modules' deployments may be there too: without
``--prune`` they are only "left over" (not counted); with ``--prune`` the assertions look at this module's
objects (their names carry the module's tag).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler.commands.cli import main
from tests.prefect_support import ROOT

SAY = "actions:\n  - type: log_message\n    name: say\n    parameters: {message: hello}\n"


def _bodies(tag: str) -> dict[str, str]:
    """One automation per trigger type (the condition one with overlap: skip), named for this module."""
    return {
        f"{tag}_event": "trigger:\n  type: event\n  event: {event_type: chain_complete, chain_name: full_analysis}\n  cooldown_seconds: 600\n" + SAY,
        f"{tag}_cron": "trigger:\n  type: time\n  time: {cron_expression: '15 3 * * 1-5', timezone_str: Europe/Berlin}\n" + SAY,
        f"{tag}_cond": (
            "overlap: skip\ntrigger:\n  type: condition\n  condition: {metric_path: $.m, operator: gt, threshold: 1, check_interval_seconds: 60, "
            "source: {type: file, path: " + tag + ".json}}\n"
            "  cooldown_seconds: 120\n" + SAY
        ),
    }


def watcher_name(tag: str) -> str:
    """The condition group watcher of ``_bodies(tag)``'s condition automation (its own file source: unique per module)."""
    from compiler.language.condition_groups import group_name
    from compiler.language.model.triggers import MetricsSource

    return group_name(MetricsSource(type="file", path=f"{tag}.json"), 60)


def _write_project(base: Path, tag: str) -> Path:
    project = base / "project"
    folder = project / "configs" / "automations"
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "configs" / "chains", project / "configs" / "chains")
    for name, body in _bodies(tag).items():
        (folder / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    (project / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    return project


def cli(project: Path, *args: str) -> tuple[int, str, str]:
    """``python -m compiler --config-dir <project>/configs/automations ARGS --project-root <project>`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["--config-dir", str(project / "configs" / "automations"), *args, "--project-root", str(project)]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def plan_json(project: Path, pool: str, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli(project, "plan", "--pool", pool, "--json", *extra)
    assert code in (0, 2), err
    return code, json.loads(out)


@pytest.fixture(scope="module")
def deployed(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """This module's project, deployed once with `python -m compiler deploy` into its own work pool."""
    tag = f"pl{uuid.uuid4().hex[:6]}"
    base = tmp_path_factory.mktemp("plan")
    project = _write_project(base, tag)
    pool = f"pool-{tag}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_API_URL", prefect_server)
        mp.setenv("PREFECT_HOME", str(base / "prefect-home"))
        code, out, err = cli(project, "deploy", "--pool", pool)
        assert code == 0, out + err
        yield {"tag": tag, "project": project, "pool": pool}


@contextlib.contextmanager
def edited(project: Path, edits: dict[str, tuple[str, str] | None]) -> Iterator[None]:
    """Edit automation files (``(old, new)`` text replacement; ``None`` deletes the file), restored afterwards."""
    folder = project / "configs" / "automations"
    saved = {name: (folder / f"{name}.yaml").read_text(encoding="utf-8") for name in edits if (folder / f"{name}.yaml").exists()}
    try:
        for name, edit in edits.items():
            path = folder / f"{name}.yaml"
            if edit is None:
                path.unlink()
            elif name in saved:
                assert edit[0] in saved[name], (name, edit[0])
                path.write_text(saved[name].replace(*edit), encoding="utf-8")
            else:
                path.write_text(f"name: {name}\n{edit[1]}", encoding="utf-8")
        yield
    finally:
        for name in edits:
            (folder / f"{name}.yaml").unlink(missing_ok=True)
        for name, text in saved.items():
            (folder / f"{name}.yaml").write_text(text, encoding="utf-8")


def ours(data: dict[str, Any], tag: str, key: str = "changes") -> list[dict[str, Any]]:
    return [c for c in data[key] if tag in c["name"]]


# --------------------------------------------------------------------------------------------------
# The critical property: deploy, then plan, reports nothing


def test_a_fresh_deploy_plans_no_changes(deployed: dict[str, Any]) -> None:
    code, out, err = cli(deployed["project"], "plan", "--pool", deployed["pool"])
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1].startswith("No changes: the server matches the configuration.")


def test_a_fresh_deploy_plans_no_changes_with_prune(deployed: dict[str, Any]) -> None:
    _, data = plan_json(deployed["project"], deployed["pool"], "--prune")
    assert ours(data, deployed["tag"]) == []


def test_deploy_plan_is_the_same_plan(deployed: dict[str, Any]) -> None:
    code, out, _ = cli(deployed["project"], "deploy", "--plan", "--pool", deployed["pool"])
    assert code == 0 and "No changes" in out


# --------------------------------------------------------------------------------------------------
# Each kind of change, field by field

CHANGES = [
    pytest.param(
        "cron", ("Europe/Berlin", "America/New_York"), "schedules[0].timezone", "Europe/Berlin", "America/New_York", id="schedule-timezone"
    ),
    pytest.param(
        "event", ("chain_name: full_analysis", "chain_name: nightly_*"),
        'triggers["{name} (event trigger)"].trigger.match["platform-god.chain-name"]', "full_analysis", "nightly_*", id="trigger-filter",
    ),
    pytest.param(
        "cron", ("message: hello", "message: goodbye"), "definition.actions[0].parameters.message", "hello", "goodbye", id="action-parameter"
    ),
    pytest.param("cond", ("overlap: skip", "overlap: queue"), "concurrency_limit.collision_strategy", "CANCEL_NEW", "ENQUEUE", id="overlap"),
    pytest.param(
        "event", ("cooldown_seconds: 600", "cooldown_seconds: 900"), 'triggers["{name} (event trigger)"].trigger.within', 600.0, 900.0,
        id="trigger-within",
    ),
]


@pytest.mark.parametrize(("kind", "edit", "path", "before", "after"), CHANGES)
def test_a_changed_deployment_shows_the_field(deployed: dict[str, Any], kind: str, edit: tuple[str, str], path: str, before: Any, after: Any) -> None:
    name = f"{deployed['tag']}_{kind}"
    with edited(deployed["project"], {name: edit}):
        code, data = plan_json(deployed["project"], deployed["pool"])
    (change,) = [c for c in data["changes"] if c["kind"] == "deployment"]
    assert (code, change["action"], change["name"]) == (2, "change", f"{name}/{name}")
    assert {"op": "~", "path": path.format(name=name), "before": before, "after": after} in change["fields"]


def test_a_deployment_enforcing_its_parameter_schema_is_a_change(deployed: dict[str, Any], prefect_server: str) -> None:
    """Deployments are written without an enforced schema (compiler/commands/build/deployments.py says why); one an
    earlier release wrote with Prefect's default (enforced) is brought in line by the next deploy."""
    name = f"{deployed['tag']}_cron"
    with _enforced(prefect_server, f"{name}/{name}"):
        code, data = plan_json(deployed["project"], deployed["pool"])
    (change,) = [c for c in data["changes"] if c["kind"] == "deployment"]
    assert (code, change["name"]) == (2, f"{name}/{name}")
    assert change["fields"] == [{"op": "~", "path": "enforce_parameter_schema", "before": True, "after": False}]


def test_deploy_stops_enforcing_a_parameter_schema(deployed: dict[str, Any], prefect_server: str) -> None:
    name = f"{deployed['tag']}_cron"
    with _enforced(prefect_server, f"{name}/{name}"):
        code, out, err = cli(deployed["project"], "deploy", "--pool", deployed["pool"])
        assert code == 0, out + err
        enforced = _enforces(prefect_server, f"{name}/{name}")

    assert enforced is False


def _enforces(api_url: str, deployment: str) -> bool:
    from prefect.client.orchestration import get_client

    from tests.prefect_support import using_api

    async def read() -> bool:
        async with get_client() as client:
            return bool((await client.read_deployment_by_name(deployment)).enforce_parameter_schema)

    with using_api(api_url):
        return asyncio.run(read())


@contextlib.contextmanager
def _enforced(api_url: str, deployment: str) -> Iterator[None]:
    """``deployment`` with an enforced parameter schema on the server, as before; restored afterwards."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate

    from tests.prefect_support import using_api

    async def enforce(value: bool) -> None:
        async with get_client() as client:
            found = await client.read_deployment_by_name(deployment)
            await client.update_deployment(found.id, DeploymentUpdate(enforce_parameter_schema=value))

    with using_api(api_url):
        asyncio.run(enforce(True))
        try:
            yield
        finally:
            asyncio.run(enforce(False))


def test_a_changed_cooldown_changes_the_limit(deployed: dict[str, Any]) -> None:
    name = f"{deployed['tag']}_cond"
    with edited(deployed["project"], {name: ("cooldown_seconds: 120", "cooldown_seconds: 60")}):
        code, data = plan_json(deployed["project"], deployed["pool"])
    (limit,) = [c for c in data["changes"] if c["kind"] == "concurrency limit"]
    assert (code, limit["action"], limit["name"]) == (2, "change", f"automation-cooldown-{name}")
    assert limit["fields"][0]["path"] == "slot_decay_per_second" and limit["fields"][0]["after"] == pytest.approx(1 / 60)


def test_changed_job_variables_show_on_every_deployment(deployed: dict[str, Any]) -> None:
    settings = deployed["project"] / "configs" / "deploy.yaml"
    settings.write_text("job_variables:\n  env:\n    AUTOMATIONS_LOCK_URL: redis://redis.internal:6379/0\n", encoding="utf-8")
    try:
        code, data = plan_json(deployed["project"], deployed["pool"])
    finally:
        settings.unlink()
    changed = {c["name"]: c["fields"] for c in data["changes"]}
    tag = deployed["tag"]
    assert code == 2 and sorted(changed) == sorted(
        [f"{tag}_event/{tag}_event", f"{tag}_cron/{tag}_cron", f"{tag}_cond/{tag}_cond", f"condition-watcher/{watcher_name(tag)}"]
    )
    expected = {"op": "+", "path": "job_variables.env.AUTOMATIONS_LOCK_URL", "after": "redis://redis.internal:6379/0"}
    assert all(fields == [expected] for fields in changed.values())


def test_an_added_automation_adds_its_deployment_and_limit(deployed: dict[str, Any]) -> None:
    name = f"{deployed['tag']}_new"
    body = "trigger:\n  type: event\n  event: {event_type: custom, custom_type: hello}\n  cooldown_seconds: 60\n" + SAY
    with edited(deployed["project"], {name: ("", body)}):
        code, data = plan_json(deployed["project"], deployed["pool"])
    assert code == 2
    assert [(c["action"], c["kind"], c["name"]) for c in data["changes"]] == [
        ("add", "deployment", f"{name}/{name}"), ("add", "concurrency limit", f"automation-cooldown-{name}")
    ]
    added = {f["path"]: f["after"] for f in data["changes"][0]["fields"]}
    assert added["work_pool"] == deployed["pool"] and list(added["triggers"]) == [f"{name} (event trigger)"]


def test_a_removed_automation_is_removed_only_with_prune(deployed: dict[str, Any]) -> None:
    tag, name = deployed["tag"], f"{deployed['tag']}_cond"
    removed = [
        ("remove", "deployment", f"condition-watcher/{watcher_name(tag)}"),
        ("remove", "deployment", f"{name}/{name}"),
        ("remove", "concurrency limit", f"automation-cooldown-{name}"),
    ]
    with edited(deployed["project"], {name: None}):
        code, plain = plan_json(deployed["project"], deployed["pool"])
        _, pruned = plan_json(deployed["project"], deployed["pool"], "--prune")
    assert code == 0 and ours(plain, tag) == []  # deploy without --prune deletes nothing
    assert [(c["action"], c["kind"], c["name"]) for c in ours(plain, tag, "left_over")] == removed
    assert [(c["action"], c["kind"], c["name"]) for c in ours(pruned, tag)] == removed


def test_text_output_reads_like_terraform(deployed: dict[str, Any]) -> None:
    name = f"{deployed['tag']}_cron"
    with edited(deployed["project"], {name: ("Europe/Berlin", "Asia/Tokyo")}):
        code, out, _ = cli(deployed["project"], "plan", "--pool", deployed["pool"])
    lines = out.splitlines()
    assert code == 2
    assert f"  ~ deployment {name}/{name}  (flows/automations.py:{name})" in lines
    assert '      ~ schedules[0].timezone: "Europe/Berlin" -> "Asia/Tokyo"' in lines
    assert lines[-1] == "Plan: 0 to add, 1 to change, 0 to remove."


# --------------------------------------------------------------------------------------------------
# Read-only


async def _server_snapshot() -> dict[str, Any]:
    from prefect.client.orchestration import get_client

    async def paged(read: Any) -> list[Any]:
        found: list[Any] = []
        while True:
            page = await read(limit=200, offset=len(found))
            found.extend(page)
            if len(page) < 200:
                return [item.model_dump(mode="json") for item in found]

    async with get_client() as client:
        return {
            "deployments": await paged(client.read_deployments),
            "automations": await paged(client.read_automations),
            "limits": await paged(client.read_global_concurrency_limits),
            "work_pools": [p.model_dump(mode="json") for p in await client.read_work_pools()],
            "flows": await paged(client.read_flows),
        }


def _files(project: Path) -> dict[str, str]:
    return {
        str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(project.rglob("*"))
        if p.is_file() and "flows" not in p.relative_to(project).parts[:1]
    }


def test_plan_changes_nothing_on_the_server_or_on_disk(deployed: dict[str, Any], prefect_server: str) -> None:
    from tests.prefect_support import using_api

    tag, project = deployed["tag"], deployed["project"]
    edits = {
        f"{tag}_cron": ("Europe/Berlin", "UTC"),
        f"{tag}_event": ("chain_name: full_analysis", "chain_name: other"),
        f"{tag}_cond": None,
        f"{tag}_added": ("", "trigger:\n  type: time\n  time: {cron_expression: '0 1 * * *'}\n  cooldown_seconds: 30\n" + SAY),
    }
    with using_api(prefect_server), edited(project, edits):
        before, files = asyncio.run(_server_snapshot()), _files(project)
        code, data = plan_json(project, f"{deployed['pool']}-missing", "--prune")  # a pool that does not exist either
        after = asyncio.run(_server_snapshot())
        assert _files(project) == files
    assert code == 2 and len(ours(data, tag)) >= 5 and data["changes"][0]["kind"] == "work pool"
    assert after == before


# --------------------------------------------------------------------------------------------------
# From a subfolder, from a machine without the workers' folder, into a closed pipe


def in_folder(folder: Path, *args: str) -> tuple[int, str, str]:
    """``python -m compiler ARGS`` run in ``folder`` with every path left to the command (in this process)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.chdir(folder)
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_deploy_from_a_subfolder_deploys_the_root(deployed: dict[str, Any]) -> None:
    project = deployed["project"]
    code, out, err = in_folder(project / "configs", "deploy", "--pool", deployed["pool"])
    assert (code, err) == (0, ""), out
    assert not (project / "configs" / "prefect.yaml").exists() and not (project / "configs" / "deployments").exists()
    # three automations and the condition watcher, deployed already: nothing to write
    assert "deployments: 0 created, 0 updated, 0 deleted, 4 unchanged" in out.splitlines(), out


@pytest.mark.parametrize("start", ["configs", "configs/automations"])
def test_plan_from_a_subfolder_plans_no_changes(deployed: dict[str, Any], start: str) -> None:
    code, out, err = in_folder(deployed["project"] / start, "plan", "--pool", deployed["pool"])
    assert (code, err) == (0, ""), out
    assert out.splitlines()[-1].startswith("No changes: the server matches the configuration.")


@contextlib.contextmanager
def moved(project: Path) -> Iterator[Path]:
    """The project under another name: the deployments' pull step names a folder that is not here any more,
    as the workers' folder (/srv/platform-god) is not on the CI machine that plans."""
    elsewhere = project.with_name(project.name + "-ci-checkout")
    project.rename(elsewhere)
    try:
        yield elsewhere
    finally:
        elsewhere.rename(project)


def test_a_workers_folder_that_is_not_here_is_not_drift(deployed: dict[str, Any]) -> None:
    project = deployed["project"]
    with moved(project) as checkout:
        code, out, err = cli(checkout, "plan", "--pool", deployed["pool"], "--pull-directory", str(project))
    assert (code, err) == (0, ""), out
    assert "note: actions not compared for 3 deployment(s): the folder their workers load definitions from" in out
    assert "definition" not in out.replace("load definitions from", "")


def test_a_definition_never_built_into_the_workers_folder_is_a_change(deployed: dict[str, Any]) -> None:
    name = f"{deployed['tag']}_cron"
    definition = deployed["project"] / "deployments" / "definitions" / f"{name}.json"
    saved = definition.read_bytes()
    definition.unlink()
    try:
        code, data = plan_json(deployed["project"], deployed["pool"])
    finally:
        definition.write_bytes(saved)
    [change] = ours(data, deployed["tag"])
    assert (code, change["name"], data["notes"]) == (2, f"{name}/{name}", [])
    assert {f["path"].split(".")[0] for f in change["fields"]} == {"definition"} and change["fields"][0]["op"] == "+"


@pytest.mark.parametrize("args", [("plan",), ("runs",)], ids=["plan", "runs"])
def test_output_into_a_closed_pipe_ends_quietly(deployed: dict[str, Any], args: tuple[str, ...]) -> None:
    """``plan | head`` once head has left: no BrokenPipeError, the status of a closed pipe (as ``git log | head``)."""
    import os
    import subprocess
    import sys

    from compiler.commands.output import CLOSED_PIPE_EXIT

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "compiler", *args, *(("--pool", deployed["pool"]) if args[0] == "plan" else ())],
            cwd=deployed["project"], env={**os.environ, "PYTHONPATH": str(ROOT), "AUTOMATIONS_WARM_RUNS": "false"},
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=180, check=False,
        )
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (CLOSED_PIPE_EXIT, "")


# --------------------------------------------------------------------------------------------------
# Changes deployed, then planned again: clean (runs last; it redeploys this module's project)


def test_after_deploying_the_changes_the_plan_is_clean(deployed: dict[str, Any]) -> None:
    tag, project, pool = deployed["tag"], deployed["project"], deployed["pool"]
    edits = {
        f"{tag}_cron": ("Europe/Berlin", "America/New_York"),
        f"{tag}_event": ("chain_name: full_analysis", "chain_name: nightly_*"),
        f"{tag}_cond": ("overlap: skip", "overlap: allow"),
        f"{tag}_added": ("", "trigger:\n  type: time\n  time: {cron_expression: '0 1 * * *'}\n  cooldown_seconds: 30\n" + SAY),
    }
    with edited(project, edits):
        code, before = plan_json(project, pool, "--prune")
        assert code == 2 and ours(before, tag)
        deploy_code, out, err = cli(project, "deploy", "--pool", pool, "--prune")
        assert deploy_code == 0, out + err
        _, after = plan_json(project, pool, "--prune")
    assert ours(after, tag) == []
