"""configs/deploy.yaml ``job_variables``: settings that travel with every deployment to the workers, never secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from compiler.commands.build import build
from compiler.language.deploy_config import resolve_build_options
from tests.compiler.commands.build.test_build import copy_configs


def _write(folder: Path, text: str) -> None:
    (folder.parent / "deploy.yaml").write_text(text, encoding="utf-8")


def test_job_variables_are_written_into_every_deployment_with_heartbeats_on(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    _write(
        folder,
        "job_variables:\n  env:\n    AUTOMATIONS_LOCK_URL: redis://127.0.0.1:6379/0\n  working_dir: /srv/pg\n",
    )
    result = build(folder, tmp_path / "out")
    deployments = yaml.safe_load((tmp_path / "out" / "prefect.yaml").read_text())["deployments"]

    assert result.ok, result.errors
    assert {str(d["work_pool"]["job_variables"]) for d in deployments} == {
        str({"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30", "AUTOMATIONS_LOCK_URL": "redis://127.0.0.1:6379/0"}, "working_dir": "/srv/pg"})
    }


def test_without_deploy_yaml_deployments_still_send_heartbeats(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    build(folder, tmp_path / "out")
    deployments = yaml.safe_load((tmp_path / "out" / "prefect.yaml").read_text())["deployments"]

    assert all(d["work_pool"]["job_variables"] == {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}} for d in deployments)


def test_the_file_can_change_the_heartbeat_frequency(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    _write(folder, "job_variables:\n  env:\n    PREFECT_FLOWS_HEARTBEAT_FREQUENCY: '60'\n")
    options, _ = resolve_build_options(folder)

    assert options is not None and options.effective_job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "60"


_SECRET = "secrets never go into deploy.yaml"

# (deploy.yaml text, expected diagnostics as "line:col: field: message fragment")
INVALID = [
    ("job_variables:\n  env:\n    GITHUB_TOKEN: abc\n", ["3:19: job_variables.env.GITHUB_TOKEN: " + _SECRET]),
    ("job_variables:\n  env:\n    AUTOMATIONS_SECRET_SLACK: abc\n", ["3:31: job_variables.env.AUTOMATIONS_SECRET_SLACK: " + _SECRET]),
    ("job_variables:\n  env:\n    db_password: abc\n", ["3:18: job_variables.env.db_password: " + _SECRET]),
    (
        "job_variables:\n  env:\n    AUTOMATIONS_REGISTRY_URL: postgresql://app:hunter2@db/registry\n",
        ["3:31: job_variables.env.AUTOMATIONS_REGISTRY_URL: the URL holds a password"],
    ),
    (
        "job_variables:\n  env:\n    SLACK: '{{ prefect.blocks.secret.slack }}'\n",
        ["3:12: job_variables.env.SLACK: `prefect deploy` resolves block references"],
    ),
    ("job_variables:\n  env:\n    1BAD: x\n", ["3:11: job_variables.env.1BAD: '1BAD' is not an environment variable name"]),
    ("job_variables:\n  env:\n    N: 3\n", ["3:8: job_variables.env.N: "]),
    ("job_variables:\n  colour: blue\n", ["2:3: job_variables.colour: unknown field 'colour'; allowed: env, working_dir, stream_output, labels"]),
    (
        "job_variables:\n  env:\n    API_TOKEN: a\n    DB_PASSWORD: b\n",
        ["3:16: job_variables.env.API_TOKEN: " + _SECRET, "4:18: job_variables.env.DB_PASSWORD: " + _SECRET],
    ),
]


@pytest.mark.parametrize(("text", "expected"), INVALID, ids=[f"case{n}" for n in range(len(INVALID))])
def test_invalid_job_variables_are_located_errors_and_nothing_is_written(tmp_path: Path, text: str, expected: list[str]) -> None:
    folder = copy_configs(tmp_path)
    _write(folder, text)
    result = build(folder, tmp_path / "out")
    lines = [f"{d.line}:{d.col}: {d.field}: {d.message}" for d in result.errors]

    assert len(lines) == len(expected), lines
    assert all(line.startswith(fragment) or fragment in line for line, fragment in zip(lines, expected, strict=True)), lines
    assert all(d.path.endswith("deploy.yaml") for d in result.errors)
    assert not (tmp_path / "out").exists()
