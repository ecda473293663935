"""``python -m compiler deploy``: refusals, what lands on a real Prefect server, idempotency and --prune."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from compiler.commands.build import WATCHER_FLOW_NAME, ZOMBIE_AUTOMATION_NAME
from compiler.commands.cli import main
from compiler.commands.deploy import NO_API_MESSAGE, last_meaningful_line
from tests.prefect_support import ROOT, using_api

LOG_ACTION = "actions:\n  - type: log_message\n    name: say\n    parameters: {message: hello}\n"
CLOSED_API = "http://127.0.0.1:9/api"  # nothing listens on the discard port


def _bodies(tag: str) -> dict[str, str]:
    """One automation per trigger type, named uniquely for this module (the server is shared by the session)."""
    return {
        f"{tag}_event": "trigger:\n  type: event\n  event: {event_type: custom, custom_type: " + tag + "}\n  cooldown_seconds: 600\n" + LOG_ACTION,
        f"{tag}_cron": "trigger:\n  type: time\n  time: {cron_expression: '15 3 * * 1-5', timezone_str: Europe/Berlin}\n" + LOG_ACTION,
        f"{tag}_cond": (
            "overlap: skip\ntrigger:\n  type: condition\n  condition: {metric_path: $.m, operator: gt, threshold: 1, check_interval_seconds: 60}\n"
            "  cooldown_seconds: 120\n" + LOG_ACTION
        ),
    }


def make_project(base: Path, automations: dict[str, str]) -> Path:
    project = base / "project"
    folder = project / "configs" / "automations"
    folder.mkdir(parents=True)
    shutil.copytree(ROOT / "configs" / "chains", project / "configs" / "chains")
    for name, body in automations.items():
        (folder / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    (project / "flows").symlink_to(ROOT / "flows", target_is_directory=True)
    return project


def run_deploy(project: Path, *extra: str) -> int:
    return main(["--config-dir", str(project / "configs" / "automations"), "deploy", "--project-root", str(project), *extra])


@pytest.fixture
def isolated_prefect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No API configured anywhere: no env var and an empty profiles file."""
    home = tmp_path / "prefect-home"
    home.mkdir()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(home / "profiles.toml"))
    return home


# --------------------------------------------------------------------------------------------------
# Refusals (no server needed)


def test_refuses_without_a_configured_api(tmp_path: Path, isolated_prefect: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path, _bodies("norefuse"))
    assert run_deploy(project) == 1
    err = capsys.readouterr().err
    assert NO_API_MESSAGE in err and "PREFECT_API_URL" in err and "python -m compiler serve" in err
    assert not (project / "prefect.yaml").exists()  # refused before building


def test_config_errors_refuse_before_contacting_the_api(
    tmp_path: Path, isolated_prefect: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", CLOSED_API)
    project = make_project(tmp_path, {"broken": "trigger:\n  type: time\n  time: {cron_expression: 'not a cron'}\n" + LOG_ACTION})
    assert run_deploy(project) == 1
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "nothing deployed" in err and "cannot reach" not in err
    assert not (project / "prefect.yaml").exists()


def test_unreachable_api_is_reported(
    tmp_path: Path, isolated_prefect: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", CLOSED_API)
    project = make_project(tmp_path, _bodies("unreach"))
    assert run_deploy(project) == 1
    assert f"deploy failed: cannot reach the Prefect API at {CLOSED_API}" in capsys.readouterr().err


def test_a_project_root_without_the_flows_is_refused_before_building(
    tmp_path: Path, isolated_prefect: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", CLOSED_API)
    project = make_project(tmp_path, _bodies("noflows"))
    (project / "flows").unlink()
    assert run_deploy(project) == 1
    assert capsys.readouterr().err == (
        f"deploy failed: {project} holds no flows/automations.py: `prefect deploy` loads the flows from the project root; "
        "run deploy in the project's checkout, or give --project-root\n"
    )
    assert not (project / "prefect.yaml").exists()


PREFECT_TRACEBACK = """\
Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/prefect/flows.py", line 3666, in _entrypoint_definition_and_source
    source_code = Path(path).read_text()
                  ^^^^^^^^^^^^^^^^^^^^^^
FileNotFoundError: [Errno 2] No such file or directory: 'flows/automations.py'
An exception occurred.
"""


@pytest.mark.parametrize(
    ("output", "line"),
    [
        (PREFECT_TRACEBACK, "FileNotFoundError: [Errno 2] No such file or directory: 'flows/automations.py'"),
        ("Could not find object 'x' in 'flows/automations.py'\n\n", "Could not find object 'x' in 'flows/automations.py'"),
        ("Deployment 'a/b' successfully created with id 1.\nAn exception occurred.\n", "Deployment 'a/b' successfully created with id 1."),
        ("", ""),
    ],
    ids=["traceback", "message", "after-a-success", "no-output"],
)
def test_the_line_that_says_what_went_wrong(output: str, line: str) -> None:
    assert last_meaningful_line(output) == line


# --------------------------------------------------------------------------------------------------
# Against the session's Prefect server


def _without_ids(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_ids(v) for k, v in data.items() if k not in ("id", "created", "updated")}
    if isinstance(data, list):
        return [_without_ids(v) for v in data]
    return data


async def server_state(tag: str, pool: str) -> dict[str, Any]:
    """The fields deploy is responsible for, for this module's automations (trigger ids are left out:
    `prefect deploy` recreates a deployment's trigger automations on every deploy)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    state: dict[str, Any] = {}
    async with get_client() as client:
        state["pool"] = (await client.read_work_pool(pool)).model_dump(mode="json", include={"id", "name", "type", "base_job_template"})
        for flow_name, name in [(f"{tag}_event", f"{tag}_event"), (f"{tag}_cron", f"{tag}_cron"), (f"{tag}_cond", f"{tag}_cond"),
                                (WATCHER_FLOW_NAME, f"{tag}_cond-condition-watcher")]:
            try:
                d = await client.read_deployment_by_name(f"{flow_name}/{name}")
            except ObjectNotFound:
                state[f"{flow_name}/{name}"] = None
                continue
            state[f"{flow_name}/{name}"] = {
                **d.model_dump(mode="json", include={
                    "id", "entrypoint", "tags", "parameters", "work_pool_name", "work_queue_name", "pull_steps", "description",
                    "version", "paused", "job_variables", "enforce_parameter_schema", "parameter_openapi_schema",
                }),
                "concurrency": (d.global_concurrency_limit.limit if d.global_concurrency_limit else None,
                                d.concurrency_options.collision_strategy.value if d.concurrency_options else None),
                "schedules": [(s.schedule.model_dump(mode="json"), s.active) for s in d.schedules],
                "triggers": _without_ids([a.model_dump(mode="json") for a in
                                          await client.read_resource_related_automations(f"prefect.deployment.{d.id}")]),
            }
        for name in (f"{tag}_event", f"{tag}_cond"):
            try:
                limit = await client.read_global_concurrency_limit_by_name(f"automation-cooldown-{name}")
                state[f"limit {name}"] = limit.model_dump(mode="json", include={"id", "limit", "slot_decay_per_second", "active", "active_slots"})
            except ObjectNotFound:
                state[f"limit {name}"] = None
        state["zombie"] = [a.model_dump(mode="json") for a in await client.read_automations_by_name(ZOMBIE_AUTOMATION_NAME)]
    return state


@pytest.fixture(scope="module")
def deployed(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One project (event, cron and condition automation) deployed once into a pool that did not exist."""
    tag = f"dep{uuid.uuid4().hex[:8]}"
    base = tmp_path_factory.mktemp("deploy")
    project = make_project(base, _bodies(tag))
    pool = f"pool-{tag}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_API_URL", prefect_server)
        mp.setenv("PREFECT_HOME", str(base / "prefect-home"))
        assert run_deploy(project, "--pool", pool) == 0
        with using_api(prefect_server):
            yield {"tag": tag, "project": project, "pool": pool, "state": asyncio.run(server_state(tag, pool))}


def test_deploy_creates_pool_deployments_limits_and_automations(deployed: dict[str, Any]) -> None:
    tag, state, project = deployed["tag"], deployed["state"], deployed["project"]
    assert state["pool"]["type"] == "process" and state["pool"]["base_job_template"]
    for key in (f"{tag}_event/{tag}_event", f"{tag}_cron/{tag}_cron", f"{tag}_cond/{tag}_cond", f"{WATCHER_FLOW_NAME}/{tag}_cond-condition-watcher"):
        assert state[key]["work_pool_name"] == deployed["pool"], key
        assert state[key]["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": str(project.resolve())}}]
    assert state[f"{tag}_cron/{tag}_cron"]["schedules"][0][0]["timezone"] == "Europe/Berlin"
    assert state[f"{WATCHER_FLOW_NAME}/{tag}_cond-condition-watcher"]["parameters"] == {"automation": f"{tag}_cond"}
    assert [t["trigger"]["expect"] for t in state[f"{tag}_event/{tag}_event"]["triggers"]] == [[f"platform-god.custom.{tag}"]]
    assert state[f"limit {tag}_event"]["slot_decay_per_second"] == pytest.approx(1 / 600)
    assert state[f"limit {tag}_cond"]["slot_decay_per_second"] == pytest.approx(1 / 120)
    assert len(state["zombie"]) == 1 and state["zombie"][0]["enabled"]


def test_second_deploy_changes_nothing(deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run_deploy(deployed["project"], "--pool", deployed["pool"]) == 0
    out = capsys.readouterr().out
    assert "work pool" in out and "exists" in out and "build:" not in out  # no generated file rewritten
    assert asyncio.run(server_state(deployed["tag"], deployed["pool"])) == deployed["state"]


def test_deploy_warns_when_results_are_shared_but_locks_are_not(
    deployed: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.prefect_support import forget_automations

    tag = f"share{uuid.uuid4().hex[:8]}"
    project = make_project(tmp_path, {f"{tag}_cron": _bodies(tag)[f"{tag}_cron"]})
    (project / "configs" / "deploy.yaml").write_text(
        "job_variables:\n  env:\n    AUTOMATIONS_RESULT_STORAGE: remote-file-system/automation-results\n", encoding="utf-8"
    )
    capsys.readouterr()
    try:
        code = run_deploy(project, "--pool", deployed["pool"])
    finally:
        asyncio.run(forget_automations([f"{tag}_cron"]))
    err = capsys.readouterr().err
    assert code == 0, err
    assert (
        "deploy.yaml:3:5: job_variables.env.AUTOMATIONS_RESULT_STORAGE: warning: action results are shared between machines "
        "but idempotency locks are not (AUTOMATIONS_LOCK_URL unset): workers on two machines can both run one occurrence's "
        "action; set AUTOMATIONS_LOCK_URL: redis://HOST:6379/0"
    ) in err


def _disable_and_remove(deployed: dict[str, Any]) -> None:
    folder = deployed["project"] / "configs" / "automations"
    tag = deployed["tag"]
    event = folder / f"{tag}_event.yaml"
    event.write_text(event.read_text(encoding="utf-8") + "status: disabled\n", encoding="utf-8")
    (folder / f"{tag}_cond.yaml").unlink()


def test_without_prune_removed_automations_stay_deployed(deployed: dict[str, Any]) -> None:
    _disable_and_remove(deployed)
    try:
        assert run_deploy(deployed["project"], "--pool", deployed["pool"]) == 0
        after = asyncio.run(server_state(deployed["tag"], deployed["pool"]))
    finally:
        shutil.rmtree(deployed["project"] / "configs" / "automations")
        folder = deployed["project"] / "configs" / "automations"
        folder.mkdir()
        for name, body in _bodies(deployed["tag"]).items():
            (folder / f"{name}.yaml").write_text(f"name: {name}\n{body}", encoding="utf-8")
    assert after == deployed["state"]  # `prefect deploy` never deletes


def test_prune_deletes_deployments_triggers_and_limits_of_removed_or_disabled_automations(
    deployed: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect.client.orchestration import get_client

    tag = deployed["tag"]
    event_id = deployed["state"][f"{tag}_event/{tag}_event"]["id"]
    _disable_and_remove(deployed)
    capsys.readouterr()
    assert run_deploy(deployed["project"], "--pool", deployed["pool"], "--prune") == 0
    out = capsys.readouterr().out
    after = asyncio.run(server_state(tag, deployed["pool"]))

    async def event_triggers() -> list[Any]:
        async with get_client() as client:
            return await client.read_resource_related_automations(f"prefect.deployment.{event_id}")

    assert after[f"{tag}_event/{tag}_event"] is None  # disabled
    assert after[f"{tag}_cond/{tag}_cond"] is None and after[f"{WATCHER_FLOW_NAME}/{tag}_cond-condition-watcher"] is None  # removed
    assert after[f"limit {tag}_event"] is None and after[f"limit {tag}_cond"] is None
    assert asyncio.run(event_triggers()) == []
    assert after[f"{tag}_cron/{tag}_cron"] == deployed["state"][f"{tag}_cron/{tag}_cron"]  # kept as it was
    assert f"- deployment {WATCHER_FLOW_NAME}/{tag}_cond-condition-watcher" in out.splitlines()
