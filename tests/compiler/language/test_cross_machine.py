"""Settings that share state between machines only in part: configs/deploy.yaml (build, deploy, plan, validate)
and serve's environment warn in one line saying what to set; ``validate --strict`` refuses them (issue 21, item 6:
results shared but locks not, and two workers on two machines ran one occurrence's action twice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.commands.build import build
from compiler.commands.cli import main
from compiler.language.cross_machine import environment_warnings, sharing_gaps
from tests.compiler.commands.build.test_build import copy_configs

RESULTS = "AUTOMATIONS_RESULT_STORAGE"
LOCKS = "AUTOMATIONS_LOCK_URL"
REGISTRY = "AUTOMATIONS_REGISTRY_URL"
ARTIFACTS = "AUTOMATIONS_ARTIFACT_STORAGE"
BLOCK = "remote-file-system/automation-results"
REDIS = "redis://redis.internal:6379/0"
POSTGRES = "postgresql+psycopg://prefect@db.internal:5432/automations"
SHARED_ARTIFACTS = "file:///mnt/shared/artifacts"
EVERYTHING = {RESULTS: BLOCK, LOCKS: REDIS, REGISTRY: POSTGRES, ARTIFACTS: SHARED_ARTIFACTS}

# (settings, names each worker sets itself, the settings left to set)
GAPS = [
    pytest.param({}, [], [], id="one-machine-defaults"),
    pytest.param({LOCKS: "file", ARTIFACTS: SHARED_ARTIFACTS}, [], [], id="file-locks-alone-are-one-machine"),
    pytest.param({RESULTS: BLOCK}, [], [LOCKS, REGISTRY, ARTIFACTS], id="results-only"),
    pytest.param({**EVERYTHING, LOCKS: "file"}, [], [LOCKS], id="results-with-file-locks"),
    pytest.param({k: v for k, v in EVERYTHING.items() if k != RESULTS}, [], [RESULTS], id="redis-locks-without-results"),
    pytest.param({**EVERYTHING, REGISTRY: "sqlite:////mnt/shared/registry.db"}, [], [REGISTRY], id="sqlite-registry"),
    pytest.param({k: v for k, v in EVERYTHING.items() if k != ARTIFACTS}, [], [ARTIFACTS], id="local-artifacts"),
    pytest.param(EVERYTHING, [], [], id="everything-shared"),
    pytest.param({k: v for k, v in EVERYTHING.items() if k != LOCKS}, [LOCKS], [], id="lock-url-set-by-each-worker"),
]


@pytest.mark.parametrize(("values", "set_by_workers", "missing"), GAPS)
def test_settings_left_to_share(values: dict[str, str], set_by_workers: list[str], missing: list[str]) -> None:
    assert [gap.missing for gap in sharing_gaps(values, set_by_workers)] == missing


def _deploy_yaml(folder: Path, env: dict[str, str], worker_env: list[str] | None = None) -> None:
    lines = ["job_variables:", "  env:", *(f"    {name}: {value}" for name, value in env.items())]
    if worker_env is not None:
        lines.append(f"worker_env: [{', '.join(worker_env)}]")
    (folder.parent / "deploy.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


RESULTS_WITHOUT_LOCKS = (
    "3:5: job_variables.env.AUTOMATIONS_RESULT_STORAGE: warning: action results are shared between machines but "
    "idempotency locks are not (AUTOMATIONS_LOCK_URL unset): workers on two machines can both run one occurrence's "
    "action; set AUTOMATIONS_LOCK_URL: redis://HOST:6379/0 in job_variables.env"
)


def test_build_warns_in_one_located_line_what_to_set(tmp_path: Path) -> None:
    folder = copy_configs(tmp_path)
    _deploy_yaml(folder, {k: v for k, v in EVERYTHING.items() if k != LOCKS})
    result = build(folder, tmp_path / "out")

    assert result.ok, result.errors
    assert [str(w).removeprefix(f"{folder.parent / 'deploy.yaml'}:") for w in result.warnings] == [
        RESULTS_WITHOUT_LOCKS + " (or name it under worker_env when each worker's own environment sets it)"
    ]


# (deploy.yaml job_variables.env, worker_env, --strict, exit code, a line printed)
VALIDATE = [
    pytest.param({RESULTS: BLOCK}, None, True, 1, RESULTS_WITHOUT_LOCKS, id="strict-refuses-results-without-locks"),
    pytest.param({RESULTS: BLOCK}, None, False, 0, RESULTS_WITHOUT_LOCKS, id="plain-validate-warns"),
    pytest.param(EVERYTHING, None, True, 0, "0 warning(s)", id="strict-accepts-everything-shared"),
    pytest.param({k: v for k, v in EVERYTHING.items() if k != LOCKS}, [LOCKS], True, 0, "0 warning(s)", id="strict-accepts-worker-env"),
    pytest.param(
        {LOCKS: REDIS}, [LOCKS], True, 1, "worker_env: AUTOMATIONS_LOCK_URL also set in job_variables.env", id="worker-env-repeating-a-value",
    ),
]


@pytest.mark.parametrize(("env", "worker_env", "strict", "code", "printed"), VALIDATE)
def test_validate_checks_deploy_yaml(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], env: dict[str, str], worker_env: list[str] | None, strict: bool, code: int,
    printed: str,
) -> None:
    folder = copy_configs(tmp_path)
    _deploy_yaml(folder, env, worker_env)

    assert main(["--config-dir", str(folder), "validate", *(["--strict"] if strict else [])]) == code
    output = capsys.readouterr()
    assert printed in output.out + output.err, output


# (serve's environment, the warnings it prints, each as its start)
SERVE_ENVIRONMENTS = [
    pytest.param({"AUTOMATIONS_STATE_DIR": "/var/lib/automations"}, [], id="one-machine"),
    pytest.param(
        {**EVERYTHING, LOCKS: "file"},
        ["warning: action results are shared between machines but idempotency locks are not (AUTOMATIONS_LOCK_URL not shared): "
         "workers on two machines can both run one occurrence's action; set AUTOMATIONS_LOCK_URL=redis://HOST:6379/0 "
         "in the environment of every serve"],
        id="results-with-file-locks",
    ),
    pytest.param({k.lower(): v for k, v in EVERYTHING.items()}, [], id="lower-case-names-count-too"),
]


@pytest.mark.parametrize(("environ", "expected"), SERVE_ENVIRONMENTS)
def test_serve_environment_warnings(environ: dict[str, str], expected: list[str]) -> None:
    assert environment_warnings(environ, "serve") == expected
