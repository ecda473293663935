"""``python -m compiler run | runs | dry-run`` in subprocesses: the shipped examples end to end on a small
repository, refused inputs, the run history listing and dry runs that execute nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests import ROOT
from tests.flows.agents.repo_builders import fake_secrets, git_commit_all, write_tree
from tests.flows.e2e_support import CliResult, Runtime


def _copy_shipped_configs(runtime: Runtime) -> None:
    for folder in ("automations", "chains"):
        for path in (ROOT / "configs" / folder).glob("*.yaml"):
            shutil.copy(path, runtime.config_dir / folder / path.name)


def _registry_rows(runtime: Runtime, sql: str, *args: Any) -> list[sqlite3.Row]:
    """Rows straight from the SQLite registry the run wrote under AUTOMATIONS_STATE_DIR."""
    db = runtime.state_dir / "registry" / "registry.db"
    assert db.is_file(), f"no registry database at {db}"
    with sqlite3.connect(db) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute(sql, args).fetchall()


def _free_cooldown(name: str) -> None:
    """Another test of this session may have run or served the example already: its cooldown slot, or a
    deployment of it with runs waiting, must not reach this run (tests.prefect_support.forget_automations)."""
    from tests.prefect_support import forget_automations

    asyncio.run(forget_automations([name]))


def _completed(result: CliResult) -> dict[str, Any]:
    assert result.returncode == 0, result.output
    history = result.json()
    assert history["status"] == "Completed", history
    return history


def test_daily_security_scan_example_scans_stores_and_notifies(runtime: Runtime, tmp_path: Path) -> None:
    _copy_shipped_configs(runtime)
    aws_key = fake_secrets()["aws"]
    repo = write_tree(
        tmp_path / "repo",
        {"README.md": "# demo\n", "deploy/settings.py": f'AWS_ACCESS_KEY_ID = "{aws_key}"\n'},
    )
    git_commit_all(repo, "add settings")

    history = _completed(runtime.cli("run", "daily_security_scan", "--param", f"repository_root={repo}", "--json"))
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    report_path = runtime.artifacts_dir / "security" / f"scan_{today}.json"
    report = report_path.read_text()
    artifacts = _registry_rows(runtime, "SELECT automation, artifact_type, path FROM artifacts")
    notifications = _registry_rows(runtime, "SELECT automation, level, message FROM notifications")

    assert [(a["name"], a["status"]) for a in history["actions"]] == [
        ("security_scan", "Completed"), ("save_report", "Completed"), ("notify_team", "Completed")
    ]
    assert "aws_access_key_id" in report and "deploy/settings.py" in report
    assert aws_key not in report  # the report holds redacted excerpts only
    # Registered by location (the absolute path here), so any machine given the same storage can open it.
    assert [tuple(r) for r in artifacts] == [("daily_security_scan", "security_report", str(report_path.resolve()))]
    assert len(notifications) == 1
    assert notifications[0]["automation"] == "daily_security_scan"
    assert notifications[0]["message"].startswith(f"Security scan of {repo}: ")


def test_chain_completion_notification_example_records_the_chain_run(runtime: Runtime, tag: str) -> None:
    _copy_shipped_configs(runtime)
    _free_cooldown("chain_completion_notification")
    payload = {"chain_name": "full_analysis", "status": "completed", "completed_steps": 3, "total_steps": 3,
               "execution_time_ms": 4321}
    event = runtime.write_json(
        "chain_complete.json", {"event_type": "chain_complete", "id": f"chain-{tag}", "payload": payload}
    )

    history = _completed(runtime.cli("run", "chain_completion_notification", "--event", str(event), "--json"))
    notifications = _registry_rows(runtime, "SELECT automation, level, message FROM notifications")
    entities = _registry_rows(runtime, "SELECT entity_type, entity_id, data, version FROM entities")

    assert [(a["name"], a["status"]) for a in history["actions"]] == [
        ("notify_team", "Completed"), ("record_completion", "Completed")
    ]
    assert [tuple(r) for r in notifications] == [
        ("chain_completion_notification", "info", "Chain full_analysis completed: 3/3 steps in 4321 ms")
    ]
    assert [(e["entity_type"], e["entity_id"], json.loads(e["data"]), e["version"]) for e in entities] == [
        ("chain_run", "full_analysis", payload, 1)
    ]


def test_health_alert_example_runs_on_a_condition_payload(runtime: Runtime, tag: str) -> None:
    _copy_shipped_configs(runtime)
    _free_cooldown("health_alert")
    # A manual condition run: `condition` is a flow parameter (what the condition checker passes), given as JSON.
    condition = {"metric_path": "$.metrics.health_score", "operator": "lt", "threshold": 50, "value": 42,
                 "check_id": f"manual-{tag}"}

    history = _completed(runtime.cli("run", "health_alert", "--param", f"condition={json.dumps(condition)}", "--json"))
    notifications = _registry_rows(runtime, "SELECT automation, level, message FROM notifications")
    [alert] = _registry_rows(runtime, "SELECT data FROM entities WHERE entity_type = 'health_alert' AND entity_id = 'latest'")
    data = json.loads(alert["data"])

    assert [(a["name"], a["status"]) for a in history["actions"]] == [
        ("alert_team", "Completed"), ("record_alert", "Completed")
    ]
    assert [tuple(r) for r in notifications] == [("health_alert", "warning", "Health score is 42 (below 50)")]
    assert data["health_score"] == 42  # a single placeholder keeps the value's type
    assert data["run_id"] == history["id"]


def test_missing_input_is_refused_with_a_clear_message(runtime: Runtime, tag: str) -> None:
    path = f"/script/200/{tag}"
    name = runtime.write_automation(
        f"""
        name: needs_target
        trigger:
          type: time
          time:
            cron_expression: "0 2 * * *"
        actions:
          - type: http_request
            name: call
            parameters:
              url: "{runtime.server.url}{path}/{{target}}"
        """
    )
    result = runtime.cli("run", name)

    assert result.returncode == 1
    assert "missing input(s): target" in result.output
    assert "--param target=..." in result.output
    assert runtime.server.requests(path) == []


def _three_step(runtime: Runtime, tag: str) -> str:
    url = runtime.server.url
    return runtime.write_automation(
        f"""
        name: audited
        trigger:
          type: time
          time:
            cron_expression: "0 2 * * *"
        actions:
          - type: http_request
            name: flaky_call
            parameters:
              url: "{url}/script/503-200/{tag}"
            retry_count: 2
            retry_delay_seconds: 0.1
          - type: http_request
            name: bad_call
            parameters:
              url: "{url}/script/404/{tag}"
            retry_count: 2
          - type: log_message
            name: never_reached
            parameters:
              message: "unreachable"
        """
    )


def test_runs_lists_each_action_with_status_and_attempts(runtime: Runtime, tag: str) -> None:
    name = _three_step(runtime, tag)
    run = runtime.cli("run", name, "--json")
    run_id = run.json()["id"]

    listed = runtime.cli("runs", name, "--json")
    text = runtime.cli("runs", name)
    [history] = [h for h in listed.json() if h["id"] == run_id]
    rows = {line.split()[0]: line.split()[1:3] for line in text.stdout.splitlines() if line.startswith("  ") and "ACTION" not in line}

    assert run.returncode == 1  # the flow failed at bad_call
    assert history["status"] == "Failed"
    assert [(a["name"], a["status"], a["attempts"]) for a in history["actions"]] == [
        ("flaky_call", "Completed", 2), ("bad_call", "Failed", 1), ("never_reached", "Skipped", 1)
    ]
    assert rows == {"flaky_call": ["Completed", "2"], "bad_call": ["Failed", "1"], "never_reached": ["Skipped", "1"]}


def test_dry_run_renders_parameters_and_executes_nothing(runtime: Runtime, tag: str) -> None:
    path = f"/script/200/{tag}"
    name = runtime.write_automation(
        f"""
        name: dry_probe
        trigger:
          type: event
          event:
            event_type: custom
            custom_type: probe
        actions:
          - type: http_request
            name: call
            parameters:
              url: "{runtime.server.url}{path}/{{event.payload.item}}"
          - type: update_registry
            name: record
            parameters:
              entity_type: probe
              entity_id: "{{event.payload.item}}"
              data: {{seen: true}}
        """
    )
    event = runtime.write_json("event.json", {"event_type": "custom", "custom_type": "probe", "payload": {"item": "x1"}})

    result = runtime.cli("dry-run", name, "--event", str(event), "--json")
    report = result.json()

    assert result.returncode == 0, result.output
    assert report["would_fire"] is True
    assert report["actions"][0]["parameters"]["url"] == f"{runtime.server.url}{path}/x1"
    assert runtime.server.requests(path) == []
    assert not (runtime.state_dir / "registry").exists()  # no registry write either
    assert asyncio.run(_flow_runs_named(name)) == []


async def _flow_runs_named(name: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    async with get_client() as client:
        return await client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[name])))


@pytest.mark.parametrize("unknown", ["no_such_automation", "daily_security_scn"])
def test_run_of_an_unknown_automation_fails_with_exit_code_1(runtime: Runtime, unknown: str) -> None:
    _copy_shipped_configs(runtime)
    result = runtime.cli("run", unknown)

    assert result.returncode == 1
    assert f"no automation named '{unknown}'" in result.stderr
