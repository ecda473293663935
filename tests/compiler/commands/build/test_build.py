"""Build: golden files, determinism, check/stale detection, no-write-on-error, and a real `prefect deploy --all`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from compiler.commands.build import (
    CONCURRENCY_LIMITS_PATH,
    DEFINITIONS_DIR,
    GENERATED_HEADER,
    GROUPS_INDEX_PATH,
    PREFECT_AUTOMATIONS_PATH,
    PREFECT_YAML_PATH,
    WATCHER_FLOW_NAME,
    BuildOptions,
    add_command,
    build,
    check,
)
from compiler.language.deploy_config import apply_server_objects, deploy_environment, pull_steps_for_directory, resolve_build_options
from tests import ROOT
from tests.conftest import PREFECT_BIN, prefect_env
from tests.prefect_support import example_names, without_server_state_of

CONFIGS = ROOT / "configs"
GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = ("chain_completion_notification", "daily_security_scan", "health_alert", "record_push")
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"


def copy_configs(tmp_path: Path) -> Path:
    """A private copy of configs/ (automations + chains); returns its automations folder."""
    target = tmp_path / "configs"
    shutil.copytree(CONFIGS / "automations", target / "automations")
    shutil.copytree(CONFIGS / "chains", target / "chains")
    return target / "automations"


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative POSIX path → bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def write_automation(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n{body}", encoding="utf-8")
    return path


LOG_ACTION = "actions:\n  - type: log_message\n    name: say\n    parameters: {message: hello}\n"


# --------------------------------------------------------------------------------------------------
# Golden files and determinism


def test_golden_files(tmp_path: Path) -> None:
    """The four examples (and the chain) compile to exactly the checked-in golden outputs."""
    result = build(CONFIGS / "automations", tmp_path, BuildOptions())
    assert result.ok, [str(d) for d in result.errors]
    produced = tree(tmp_path)
    if UPDATE_GOLDEN:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for relative, content in produced.items():
            (GOLDEN / relative).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / relative).write_bytes(content)
    expected = tree(GOLDEN)
    assert sorted(produced) == sorted(expected), "set of generated files changed (UPDATE_GOLDEN=1 to accept)"
    for relative in expected:
        assert produced[relative].decode() == expected[relative].decode(), f"{relative} differs (UPDATE_GOLDEN=1 to accept)"


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    first = build(CONFIGS / "automations", tmp_path / "a", BuildOptions())
    second = build(CONFIGS / "automations", tmp_path / "b", BuildOptions())
    assert first.ok and second.ok
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert first.outputs == second.outputs


def test_rebuild_writes_nothing_when_nothing_changed(tmp_path: Path) -> None:
    build(CONFIGS / "automations", tmp_path, BuildOptions())
    before = snapshot(tmp_path)
    again = build(CONFIGS / "automations", tmp_path, BuildOptions())
    assert again.written == () and again.removed == ()
    assert len(again.unchanged) == len(again.outputs)
    assert snapshot(tmp_path) == before


def test_expected_files_and_header(tmp_path: Path) -> None:
    result = build(CONFIGS / "automations", tmp_path, BuildOptions())
    assert set(result.outputs) == {
        PREFECT_YAML_PATH,
        GROUPS_INDEX_PATH,
        CONCURRENCY_LIMITS_PATH,
        PREFECT_AUTOMATIONS_PATH,
        *(DEFINITIONS_DIR / f"{name}.json" for name in EXAMPLES),
    }
    text = (tmp_path / "prefect.yaml").read_text(encoding="utf-8")
    assert text.startswith(GENERATED_HEADER + "\n")
    assert "prefect-version" not in text  # the file must not depend on the installed Prefect


# --------------------------------------------------------------------------------------------------
# Content


def _prefect_yaml(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / "prefect.yaml").read_text(encoding="utf-8"))
    return data


def _deployment(data: dict[str, Any], name: str, entry_module: str = "flows/automations.py") -> dict[str, Any]:
    (found,) = [d for d in data["deployments"] if d["name"] == name and d["entrypoint"].startswith(entry_module)]
    return dict(found)


def test_prefect_yaml_content(tmp_path: Path) -> None:
    build(CONFIGS / "automations", tmp_path, BuildOptions())
    data = _prefect_yaml(tmp_path)
    assert data["name"] == "platform-god-automations"
    assert data["build"] is None and data["push"] is None
    assert data["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $PWD }}"}}]
    names = [(d["name"], d["entrypoint"]) for d in data["deployments"]]
    assert names == [
        ("chain_completion_notification", "flows/automations.py:chain_completion_notification"),
        ("daily_security_scan", "flows/automations.py:daily_security_scan"),
        ("health_alert", "flows/automations.py:health_alert"),
        ("record_push", "flows/automations.py:record_push"),
        ("registry-every-300s", "flows/conditions/watcher.py:condition_watcher"),
    ]

    event = _deployment(data, "chain_completion_notification")
    assert event["tags"] == ["notifications", "platform-god"]
    assert event["version"] == "1.0"
    assert event["work_pool"] == {"name": "automations", "job_variables": {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}}}
    assert event["schedules"] == [] and "concurrency_limit" not in event
    (trigger,) = event["triggers"]
    assert trigger["type"] == "event" and trigger["posture"] == "Reactive" and trigger["enabled"] is True
    assert trigger["expect"] == ["platform-god.chain.completed"]
    assert trigger["match"] == {"prefect.resource.id": "platform-god.*", "platform-god.chain-name": "full_analysis"}
    assert trigger["threshold"] == 1 and trigger["within"] == 3600
    assert trigger["parameters"] == {
        "event": {
            "id": "{{ event.id | string }}",
            "event": "{{ event.event }}",
            "occurred": "{{ event.occurred.isoformat() }}",
            "resource": "{{ event.resource }}",
            "payload": "{{ event.payload }}",
        }
    }

    timed = _deployment(data, "daily_security_scan")
    assert timed["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC", "day_or": True, "active": True}]
    assert timed["triggers"] == []

    condition = _deployment(data, "health_alert")
    assert condition["schedules"] == [] and condition["triggers"] == []
    watcher = _deployment(data, "registry-every-300s", "flows/conditions/watcher.py")
    assert watcher["parameters"] == {"group": "registry-every-300s"}
    assert watcher["schedules"] == [{"interval": 300, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": "UTC", "active": True}]
    assert watcher["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    assert "condition-watcher" in watcher["tags"] and "platform-god" in watcher["tags"]


def test_definitions_and_limits(tmp_path: Path) -> None:
    from compiler.language.catalog import load_catalog
    from compiler.language.normalize import normalized

    build(CONFIGS / "automations", tmp_path, BuildOptions())
    catalog = load_catalog(CONFIGS / "automations")
    for name in EXAMPLES:
        data = json.loads((tmp_path / DEFINITIONS_DIR / f"{name}.json").read_text(encoding="utf-8"))
        loaded = catalog.automations[name]
        assert data == normalized(loaded.automation) | {"inputs": list(loaded.inputs)}
    limits = json.loads((tmp_path / CONCURRENCY_LIMITS_PATH).read_text(encoding="utf-8"))
    assert limits == [
        {"name": "automation-cooldown-chain_completion_notification", "limit": 1, "slot_decay_per_second": 1 / 3600},
        {"name": "automation-cooldown-daily_security_scan", "limit": 1, "slot_decay_per_second": 1 / 82800},
        {"name": "automation-cooldown-health_alert", "limit": 1, "slot_decay_per_second": 1 / 3600},
    ]


def test_compiled_definition_loads_back_as_the_same_automation(tmp_path: Path) -> None:
    """The runtime validates the JSON again: it must give back an equal model."""
    from compiler.language.catalog import load_catalog
    from compiler.language.model.automation import automation_model

    build(CONFIGS / "automations", tmp_path, BuildOptions())
    catalog = load_catalog(CONFIGS / "automations")
    for name in EXAMPLES:
        data = json.loads((tmp_path / DEFINITIONS_DIR / f"{name}.json").read_text(encoding="utf-8"))
        data.pop("inputs")
        assert automation_model().model_validate_json(json.dumps(data)) == catalog.automations[name].automation


def test_generated_yaml_passes_prefect_models(tmp_path: Path) -> None:
    """Offline version of what `prefect deploy` validates: the file model, schedules and triggers."""
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.events.schemas.automations import AutomationCore
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    build(CONFIGS / "automations", tmp_path, BuildOptions())
    raw = _prefect_yaml(tmp_path)
    model = PrefectYamlModel.model_validate(raw)
    assert len(model.deployments) == 5
    for deployment in raw["deployments"]:
        for trigger in deployment["triggers"]:
            DeploymentEventTrigger.model_validate(trigger)
    for spec in json.loads((tmp_path / PREFECT_AUTOMATIONS_PATH).read_text(encoding="utf-8")):
        AutomationCore.model_validate(spec)


def test_overlap_disabled_and_custom_globs(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    write_automation(
        folder,
        "queued_custom",
        "overlap: queue\ntrigger:\n  type: event\n  event: {event_type: custom, custom_type: deploy_done}\n" + LOG_ACTION,
    )
    write_automation(
        folder,
        "skipped_glob",
        "overlap: skip\ntrigger:\n  type: event\n  event: {event_type: custom, custom_type: 'deploy_?'}\n" + LOG_ACTION,
    )
    write_automation(
        folder,
        "switched_off",
        "status: disabled\ntrigger:\n  type: time\n  time: {cron_expression: '*/5 * * * *'}\n  cooldown_seconds: 60\n"
        + LOG_ACTION,
    )
    result = build(folder, tmp_path / "out", BuildOptions(work_pool="pool-x", extra_tags=("team-a", "platform-god")))
    assert result.ok, [str(d) for d in result.errors]
    data = _prefect_yaml(tmp_path / "out")
    queued = _deployment(data, "queued_custom")
    assert queued["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert queued["triggers"][0]["expect"] == ["platform-god.custom.deploy_done"]
    assert queued["triggers"][0]["match"]["platform-god.custom-type"] == "deploy_done"
    assert queued["triggers"][0]["within"] == 0
    assert queued["work_pool"]["name"] == "pool-x"
    assert queued["tags"] == ["platform-god", "team-a"]
    skipped = _deployment(data, "skipped_glob")
    assert skipped["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    # Prefect's expect only knows `*`; the glob is left to the label filter.
    assert skipped["triggers"][0]["expect"] == ["platform-god.custom.*"]
    assert skipped["triggers"][0]["match"]["platform-god.custom-type"] == "deploy_?"
    assert "concurrency_limit" not in _deployment(data, "daily_security_scan")
    assert all(d["name"] != "switched_off" for d in data["deployments"])
    assert not (tmp_path / "out" / DEFINITIONS_DIR / "switched_off.json").exists()
    limits = json.loads((tmp_path / "out" / CONCURRENCY_LIMITS_PATH).read_text(encoding="utf-8"))
    assert "automation-cooldown-switched_off" not in {limit["name"] for limit in limits}


# --------------------------------------------------------------------------------------------------
# check, stale files, errors


def test_check_clean_after_build(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    assert check(folder, tmp_path, BuildOptions()).stale == (
        CONCURRENCY_LIMITS_PATH,
        GROUPS_INDEX_PATH,
        DEFINITIONS_DIR / "chain_completion_notification.json",
        DEFINITIONS_DIR / "daily_security_scan.json",
        DEFINITIONS_DIR / "health_alert.json",
        DEFINITIONS_DIR / "record_push.json",
        PREFECT_AUTOMATIONS_PATH,
        PREFECT_YAML_PATH,
    )
    build(folder, tmp_path, BuildOptions())
    result = check(folder, tmp_path, BuildOptions())
    assert result.ok and result.stale == ()


def test_check_reports_changed_definition(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    build(folder, tmp_path, BuildOptions())
    source = folder / "daily_security_scan.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace("retry_count: 1", "retry_count: 2"), encoding="utf-8")
    assert check(folder, tmp_path, BuildOptions()).stale == (DEFINITIONS_DIR / "daily_security_scan.json",)
    source.write_text(source.read_text(encoding="utf-8").replace('"0 2 * * *"', '"0 3 * * *"'), encoding="utf-8")
    assert check(folder, tmp_path, BuildOptions()).stale == (
        DEFINITIONS_DIR / "daily_security_scan.json",
        PREFECT_YAML_PATH,
    )


def test_check_reports_hand_edits_and_leftovers(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    build(folder, tmp_path, BuildOptions())
    (tmp_path / "prefect.yaml").write_text("# edited by hand\n", encoding="utf-8")
    (tmp_path / DEFINITIONS_DIR / "old_automation.json").write_text("{}\n", encoding="utf-8")
    (tmp_path / DEFINITIONS_DIR / ".gitkeep").write_text("", encoding="utf-8")
    assert check(folder, tmp_path, BuildOptions()).stale == (DEFINITIONS_DIR / "old_automation.json", PREFECT_YAML_PATH)
    result = build(folder, tmp_path, BuildOptions())
    assert result.written == (PREFECT_YAML_PATH,)
    assert result.removed == (DEFINITIONS_DIR / "old_automation.json",)
    assert (tmp_path / DEFINITIONS_DIR / ".gitkeep").exists()  # not ours to delete
    assert check(folder, tmp_path, BuildOptions()).stale == ()


def test_disabling_an_automation_removes_its_outputs(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    build(folder, tmp_path, BuildOptions())
    source = folder / "health_alert.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace("status: enabled", "status: disabled"), encoding="utf-8")
    assert DEFINITIONS_DIR / "health_alert.json" in check(folder, tmp_path, BuildOptions()).stale
    result = build(folder, tmp_path, BuildOptions())
    assert result.removed == (DEFINITIONS_DIR / "health_alert.json",)
    assert all(d["name"] != "health_alert" for d in _prefect_yaml(tmp_path)["deployments"])


def test_config_error_writes_nothing_and_keeps_previous_outputs(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    build(folder, tmp_path, BuildOptions())
    before = snapshot(tmp_path / "deployments") | {"prefect.yaml": snapshot(tmp_path)["prefect.yaml"]}
    # A valid change and a broken file in the same folder: the valid change must not be written either.
    (folder / "daily_security_scan.yaml").write_text(
        (folder / "daily_security_scan.yaml").read_text(encoding="utf-8").replace("retry_count: 1", "retry_count: 3"),
        encoding="utf-8",
    )
    write_automation(folder, "broken", "trigger:\n  type: time\n  time: {cron_expression: 'not a cron'}\n" + LOG_ACTION)
    result = build(folder, tmp_path, BuildOptions())
    assert not result.ok
    assert result.outputs == {} and result.written == () and result.removed == ()
    assert any("broken.yaml" in d.path for d in result.errors)
    after = snapshot(tmp_path / "deployments") | {"prefect.yaml": snapshot(tmp_path)["prefect.yaml"]}
    assert after == before
    checked = check(folder, tmp_path, BuildOptions())
    assert not checked.ok and checked.errors and checked.stale == ()


def test_config_error_in_fresh_folder_creates_nothing(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    (folder / "oops.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    result = build(folder, tmp_path / "out", BuildOptions())
    assert result.errors and not (tmp_path / "out").exists()


def test_chain_error_blocks_the_build(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    (folder.parent / "chains" / "bad.yaml").write_text("name: bad\nsteps: 3\n", encoding="utf-8")
    result = build(folder, tmp_path / "out", BuildOptions())
    assert result.errors and not (tmp_path / "out").exists()


def test_watcher_flow_name_is_reserved(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    write_automation(folder, WATCHER_FLOW_NAME, "trigger:\n  type: event\n  event: {event_type: chain_complete}\n" + LOG_ACTION)
    result = build(folder, tmp_path / "out", BuildOptions())
    assert [d.field for d in result.errors] == ["name"] and "reserved" in result.errors[0].message
    assert not (tmp_path / "out").exists()


def test_failed_write_leaves_old_file_and_no_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = copy_configs(tmp_path)
    build(folder, tmp_path, BuildOptions())
    old = (tmp_path / "prefect.yaml").read_bytes()
    source = folder / "daily_security_scan.yaml"
    source.write_text(source.read_text(encoding="utf-8").replace('"0 2 * * *"', '"0 4 * * *"'), encoding="utf-8")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("compiler.commands.build.write.os.replace", failing_replace)
    with pytest.raises(OSError):
        build(folder, tmp_path, BuildOptions())
    monkeypatch.undo()
    assert (tmp_path / "prefect.yaml").read_bytes() == old
    assert list(tmp_path.rglob("*.tmp")) == []


def test_written_files_are_readable_by_others(tmp_path: Path) -> None:
    build(CONFIGS / "automations", tmp_path, BuildOptions())
    assert (tmp_path / "prefect.yaml").stat().st_mode & 0o644 == 0o644


# --------------------------------------------------------------------------------------------------
# Options: configs/deploy.yaml and command-line overrides


def test_deploy_yaml_and_overrides(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    (folder.parent / "deploy.yaml").write_text(
        "work_pool: from-file\ntags: [file-tag]\npull:\n"
        "  - prefect.deployments.steps.set_working_directory: {directory: /srv/pg}\n",
        encoding="utf-8",
    )
    options, errors = resolve_build_options(folder)
    assert errors == [] and options is not None
    assert options.work_pool == "from-file" and options.extra_tags == ("file-tag",)
    assert options.effective_pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": "/srv/pg"}}]
    # options=None reads the same file.
    build(folder, tmp_path / "out", None)
    data = _prefect_yaml(tmp_path / "out")
    assert data["pull"][0]["prefect.deployments.steps.set_working_directory"]["directory"] == "/srv/pg"
    assert {d["work_pool"]["name"] for d in data["deployments"]} == {"from-file"}
    assert all(d["tags"][-1] == "file-tag" for d in data["deployments"])

    overridden, _ = resolve_build_options(
        folder, work_pool="from-cli", extra_tags=["cli-tag"], pull_steps=pull_steps_for_directory("/opt/pg")
    )
    assert overridden is not None
    assert overridden.work_pool == "from-cli" and overridden.extra_tags == ("cli-tag",)
    assert overridden.effective_pull_steps[0]["prefect.deployments.steps.set_working_directory"]["directory"] == "/opt/pg"


def test_invalid_deploy_yaml_is_an_error(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    (folder.parent / "deploy.yaml").write_text("work_pool: p\npul: []\n", encoding="utf-8")
    result = build(folder, tmp_path / "out")
    assert result.errors and "deploy.yaml" in result.errors[0].path and result.errors[0].line == 2
    assert not (tmp_path / "out").exists()
    (folder.parent / "deploy.yaml").write_text("pull:\n  - {a: {}, b: {}}\n", encoding="utf-8")
    options, errors = resolve_build_options(folder)
    assert options is None and "exactly one key" in errors[0].message
    _, errors = resolve_build_options(folder.parent / "nowhere" / "automations", extra_tags=["bad tag"])
    assert errors and errors[0].field == "--tag"


def test_empty_pull_list_means_no_pull_steps(tmp_path: Path) -> None:
    build(CONFIGS / "automations", tmp_path, BuildOptions(pull_steps=()))
    assert _prefect_yaml(tmp_path)["pull"] == []


def test_deploy_environment_sets_pwd_and_schedule_clearing(tmp_path: Path) -> None:
    env = deploy_environment(tmp_path, {"PATH": "/bin", "PWD": "/elsewhere"})
    assert env["PWD"] == str(tmp_path.resolve()) and env["PATH"] == "/bin"
    assert env["PREFECT_DEPLOYMENTS_CLEAR_SCHEDULES_ON_EMPTY"] == "true"


# --------------------------------------------------------------------------------------------------
# Command line


def _run_cli(argv: list[str], config_dir: Path) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-dir", type=Path, default=config_dir)
    add_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_build_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = copy_configs(tmp_path)
    root = str(tmp_path / "out")
    assert _run_cli(["build", "--check", "--project-root", root], folder) == 1
    assert "stale: prefect.yaml" in capsys.readouterr().err
    assert _run_cli(["build", "--project-root", root, "--pool", "p1", "--tag", "t1"], folder) == 0
    out = capsys.readouterr().out
    assert "wrote prefect.yaml" in out and "8 written, 0 removed, 0 unchanged" in out
    assert _run_cli(["build", "--check", "--project-root", root, "--pool", "p1", "--tag", "t1"], folder) == 0
    assert "up to date" in capsys.readouterr().out
    # Different options → different prefect.yaml → stale.
    assert _run_cli(["build", "--check", "--project-root", root], folder) == 1
    assert capsys.readouterr().err.splitlines()[0] == "stale: prefect.yaml"
    write_automation(folder, "broken", "trigger: {type: nope}\n" + LOG_ACTION)
    assert _run_cli(["build", "--project-root", root], folder) == 1
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "nothing written" in err


# --------------------------------------------------------------------------------------------------
# The real thing: `prefect deploy --all` against a Prefect server

_EXTRA_AUTOMATIONS = {
    "queued_glob": "overlap: queue\ntrigger:\n  type: event\n  event: {event_type: custom, custom_type: 'deploy_*'}\n",
    "skipping_cron": "overlap: skip\ntrigger:\n  type: time\n  time: {cron_expression: '15 3 * * 1-5', timezone_str: Europe/Berlin}\n",
    "switched_off": "status: disabled\ntrigger:\n  type: time\n  time: {cron_expression: '* * * * *'}\n",
}


def make_project(tmp_path: Path) -> Path:
    """A throwaway project: configs (+ extra automations), a copy of the runtime, built outputs."""
    project = tmp_path / "project"
    folder = copy_configs(project)
    for name, body in _EXTRA_AUTOMATIONS.items():
        write_automation(folder, name, body + LOG_ACTION)
    # `prefect deploy` imports each entrypoint to read its parameters: the real runtime, not a stand-in.
    shutil.copytree(ROOT / "flows", project / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "compiler", project / "compiler", ignore=shutil.ignore_patterns("__pycache__"))
    result = build(folder, project, BuildOptions())
    assert result.ok, [str(d) for d in result.errors]
    return project


def _cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PREFECT_BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
    )


def _post_event(api_url: str, event: str, resource: dict[str, str], payload: dict[str, Any]) -> str:
    event_id = str(uuid.uuid4())
    body = [{"id": event_id, "occurred": datetime.now(UTC).isoformat(), "event": event, "resource": resource, "payload": payload}]
    assert httpx.post(f"{api_url}/events", json=body, timeout=10).status_code == 204
    return event_id


async def _runs_with_event(client: Any, deployment_id: Any, event_id: str, timeout: float = 45) -> list[Any]:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
        found = [r for r in runs if (r.parameters.get("event") or {}).get("id") == event_id]
        if found:
            return found
        await asyncio.sleep(0.25)
    return []


def _limit(deployment: Any) -> tuple[int | None, str | None]:
    """The deployment's own concurrency limit and collision strategy (`concurrency_limit` is deprecated)."""
    gcl = deployment.global_concurrency_limit
    options = deployment.concurrency_options
    return (gcl.limit if gcl else None, str(options.collision_strategy.value) if options else None)


@pytest.fixture
def nothing_left_on_the_server(prefect_server: str) -> Iterator[None]:
    """This test deploys the examples under their names and posts an event their trigger runs: the run it
    creates waits for a worker, and a later module serving the same deployment would execute it first."""
    with without_server_state_of(prefect_server, [*example_names(), *_EXTRA_AUTOMATIONS]):
        yield


def test_prefect_deploy_all_accepts_generated_yaml(prefect_server: str, tmp_path: Path, nothing_left_on_the_server: None) -> None:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
    from prefect.events.schemas.automations import EventTrigger
    from prefect.events.schemas.events import ResourceSpecification

    project = make_project(tmp_path)
    env = prefect_env(prefect_server, tmp_path / "prefect-home", deploy_environment(project))
    pool = _cli(["work-pool", "create", "automations", "--type", "process", "--overwrite"], project, env)
    assert pool.returncode == 0, pool.stdout + pool.stderr
    deployed = _cli(["deploy", "--all", "--no-prompt"], project, env)
    output = deployed.stdout + deployed.stderr
    assert deployed.returncode == 0, output
    assert "Skipping" not in output and output.count("successfully created") == 7, output

    async def verify() -> None:
        async with PrefectClient(prefect_server) as client:
            by_name = {}
            for flow_name, name in [
                ("chain_completion_notification", "chain_completion_notification"),
                ("daily_security_scan", "daily_security_scan"),
                ("health_alert", "health_alert"),
                (WATCHER_FLOW_NAME, "registry-every-300s"),
                ("record_push", "record_push"),
                ("queued_glob", "queued_glob"),
                ("skipping_cron", "skipping_cron"),
            ]:
                by_name[f"{flow_name}/{name}"] = await client.read_deployment_by_name(f"{flow_name}/{name}")
            for deployment in by_name.values():
                assert deployment.work_pool_name == "automations"
                assert "platform-god" in deployment.tags
                # `{{ $PWD }}` is resolved by `prefect deploy` itself: the folder it ran in.
                assert deployment.pull_steps == [
                    {"prefect.deployments.steps.set_working_directory": {"directory": str(project.resolve())}}
                ]
            from prefect.exceptions import ObjectNotFound

            with pytest.raises(ObjectNotFound):
                await client.read_deployment_by_name("switched_off/switched_off")

            event = by_name["chain_completion_notification/chain_completion_notification"]
            assert event.entrypoint == "flows/automations.py:chain_completion_notification"
            assert event.schedules == [] and event.global_concurrency_limit is None
            assert event.version == "1.0" and event.tags == ["notifications", "platform-god"]
            (owned,) = await client.read_resource_related_automations(f"prefect.deployment.{event.id}")
            assert isinstance(owned.trigger, EventTrigger) and isinstance(owned.trigger.match, ResourceSpecification)
            assert owned.trigger.expect == {"platform-god.chain.completed"}
            assert owned.trigger.within == timedelta(seconds=3600) and owned.trigger.threshold == 1
            assert owned.trigger.match.root == {"prefect.resource.id": "platform-god.*", "platform-god.chain-name": "full_analysis"}

            timed = by_name["daily_security_scan/daily_security_scan"]
            (schedule,) = timed.schedules
            assert isinstance(schedule.schedule, CronSchedule) and schedule.active
            assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.schedule.day_or) == ("0 2 * * *", "UTC", True)
            assert await client.read_resource_related_automations(f"prefect.deployment.{timed.id}") == []

            skipping = by_name["skipping_cron/skipping_cron"]
            assert isinstance(skipping.schedules[0].schedule, CronSchedule)
            assert skipping.schedules[0].schedule.timezone == "Europe/Berlin"
            assert _limit(skipping) == (1, "CANCEL_NEW")
            queued = by_name["queued_glob/queued_glob"]
            assert _limit(queued) == (1, "ENQUEUE")

            assert by_name["health_alert/health_alert"].schedules == []
            watcher = by_name[f"{WATCHER_FLOW_NAME}/registry-every-300s"]
            assert watcher.entrypoint == "flows/conditions/watcher.py:condition_watcher"
            assert watcher.parameters == {"group": "registry-every-300s"}
            (interval,) = watcher.schedules
            assert isinstance(interval.schedule, IntervalSchedule) and interval.schedule.interval.total_seconds() == 300
            assert _limit(watcher) == (1, "CANCEL_NEW")

            # Trigger parameters: nested templates arrive typed (payload a dict, ints stay ints).
            event_id = _post_event(
                prefect_server,
                "platform-god.chain.completed",
                {"prefect.resource.id": "platform-god.chain.full_analysis", "platform-god.chain-name": "full_analysis",
                 "platform-god.status": "completed"},
                {"chain_name": "full_analysis", "status": "completed", "completed_steps": 3, "total_steps": 3,
                 "execution_time_ms": 1500, "nested": {"a": [1, 2.5, True, None]}},
            )
            runs = await _runs_with_event(client, event.id, event_id)
            assert len(runs) == 1, "the event trigger created no run (template error? see server log)"
            received = runs[0].parameters["event"]
            assert received["event"] == "platform-god.chain.completed"
            assert received["payload"] == {"chain_name": "full_analysis", "status": "completed", "completed_steps": 3,
                                           "total_steps": 3, "execution_time_ms": 1500, "nested": {"a": [1, 2.5, True, None]}}
            assert received["resource"]["platform-god.chain-name"] == "full_analysis"
            assert datetime.fromisoformat(received["occurred"]).tzinfo is not None

            # A custom event whose custom_type matches the glob filter starts the glob automation.
            glob_id = _post_event(
                prefect_server,
                "platform-god.custom.deploy_api",
                {"prefect.resource.id": "platform-god.custom.deploy_api", "platform-god.custom-type": "deploy_api"},
                {"custom_type": "deploy_api"},
            )
            assert len(await _runs_with_event(client, queued.id, glob_id)) == 1

            # Deploy-time objects `prefect deploy` does not create; applying twice is idempotent.
            for _ in range(2):
                applied = await apply_server_objects(client, project)
            assert "automation platform-god-crash-zombie-runs" in applied
            limit = await client.read_global_concurrency_limit_by_name("automation-cooldown-chain_completion_notification")
            assert limit.limit == 1 and limit.slot_decay_per_second == pytest.approx(1 / 3600)
            assert len(await client.read_automations_by_name("platform-god-crash-zombie-runs")) == 1

    asyncio.run(verify())

