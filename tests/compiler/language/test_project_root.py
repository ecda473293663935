"""The project root is found from any subfolder (as git does), and config folders given at the wrong level,
or holding no automation files, are errors that say where the automations are (CLI transcripts)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.language.project import find_project_root
from tests.compiler.support import ROOT, make_config_dir

GOOD = "name: good\ntrigger: {type: event, event: {event_type: chain_complete}}\n" \
       "actions:\n  - {type: log_message, name: say, parameters: {message: hi}}\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """``tmp/proj`` holding configs/automations (one good file) and a nested subfolder ``src/deep``."""
    root = tmp_path / "proj"
    automations = make_config_dir(root / "configs")
    (automations / "good.yaml").write_text(GOOD, encoding="utf-8")
    (root / "src" / "deep").mkdir(parents=True)
    return root


def cli(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("AUTOMATIONS_STATE_DIR", None)
    env.pop("AUTOMATIONS_CONFIG_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "compiler", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120,
        env=env, check=False,
    )


# --- finding the root ----------------------------------------------------------------------------------


@pytest.mark.parametrize("start", [".", "src", "src/deep"])
def test_root_is_found_from_the_root_and_every_subfolder(project: Path, start: str) -> None:
    assert find_project_root(project / start) == project


def test_a_pyproject_of_this_project_marks_the_root(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "platform-god-automations"\n', encoding="utf-8")
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert find_project_root(tmp_path / "a" / "b") == tmp_path


def test_another_projects_pyproject_does_not(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "something-else"\n', encoding="utf-8")
    (tmp_path / "a").mkdir()
    assert find_project_root(tmp_path / "a") == tmp_path / "a"


def test_outside_any_project_the_working_folder_is_the_root(tmp_path: Path) -> None:
    assert find_project_root(tmp_path) == tmp_path


def test_state_config_and_local_server_folders_are_the_same_from_a_subfolder(project: Path) -> None:
    script = (
        "from compiler.language.settings import get_settings; from flows.local_server.server import SERVER_DIR; "
        "s = get_settings(); print(s.state_dir, s.config_dir, SERVER_DIR)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOMATIONS_")}
    env["PYTHONPATH"] = str(ROOT)
    seen = {
        subprocess.run([sys.executable, "-c", script], cwd=project / start, capture_output=True, text=True,
                       timeout=120, env=env, check=True).stdout
        for start in (".", "src/deep")
    }
    assert seen == {f"{project}/var/automations {project}/configs {project}/var/prefect\n"}


# --- CLI transcripts -------------------------------------------------------------------------------------


def test_validate_from_a_subfolder_checks_the_projects_automations(project: Path) -> None:
    result = cli(project / "src" / "deep", "validate")
    assert (result.returncode, result.stdout, result.stderr) == (0, "1 automation(s) valid, 0 error(s), 0 warning(s)\n", "")


def test_list_from_a_subfolder_shows_them(project: Path) -> None:
    result = cli(project / "src", "list")
    assert (result.returncode, result.stdout.split()[:2]) == (0, ["good", "enabled"])


def test_config_dir_one_level_too_high_says_where_the_automations_are(project: Path) -> None:
    result = cli(project, "--config-dir", "configs", "validate")
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "validate: no automation files (.yaml, .yml, .json) in configs; the automations are in"
        " configs/automations: use --config-dir configs/automations\n",
    )


def test_explicit_empty_config_dir_is_an_error(project: Path) -> None:
    (project / "empty").mkdir()
    result = cli(project, "--config-dir", "empty", "list")
    assert (result.returncode, result.stderr) == (2, "list: no automation files (.yaml, .yml, .json) in empty\n")


def test_validate_of_a_folder_without_automation_files_is_an_error(project: Path) -> None:
    result = cli(project, "validate", "configs")
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "validate: no automation files (.yaml, .yml, .json) in configs; the automations are in"
        " configs/automations: use validate configs/automations\n",
    )


def test_validate_of_an_empty_folder_does_not_fall_back_to_the_default(project: Path) -> None:
    (project / "configs" / "automations" / "broken.yaml").write_text("name: [\n", encoding="utf-8")
    (project / "nothing").mkdir()
    result = cli(project, "validate", "nothing")
    assert (result.returncode, result.stderr) == (2, "validate: no automation files (.yaml, .yml, .json) in nothing\n")


def test_the_summary_counts_no_files_with_errors_when_all_are_valid(project: Path) -> None:
    (project / "configs" / "automations" / "other.yaml").write_text(GOOD.replace("good", "other"), encoding="utf-8")
    result = cli(project, "validate")
    assert result.stdout == "2 automation(s) valid, 0 error(s), 0 warning(s)\n"


# --- every command from a subfolder ------------------------------------------------------------------------

CASES = "automation: good\ncases:\n  - name: fires\n    when: {event: {event_type: chain_complete, chain_name: x}}\n    expect: {fires: true}\n"
DEPLOY_YAML = "pull:\n  - prefect.deployments.steps.set_working_directory: {directory: /srv/platform-god}\n"


@pytest.fixture
def full_project(project: Path) -> Path:
    """``project`` with what the other commands read beside the automations: a case test and deploy.yaml."""
    (project / "configs" / "tests").mkdir()
    (project / "configs" / "tests" / "good.yaml").write_text(CASES, encoding="utf-8")
    (project / "configs" / "deploy.yaml").write_text(DEPLOY_YAML, encoding="utf-8")
    return project


# (command, a line its stdout holds): the same from the root, configs/ and configs/automations/.
FROM_ANYWHERE = [
    (("validate",), "1 automation(s) valid, 0 error(s), 0 warning(s)"),
    (("list",), "good"),
    (("show", "good"), "name: good"),
    (("export", "good"), "name: good"),
    (("test",), "1 passed"),
    (("dry-run", "good", "--event", "{root}/event.json"), "good: would FIRE"),
    (("build",), "wrote prefect.yaml"),  # paths under the project root
]


@pytest.mark.parametrize("start", ["configs", "configs/automations"])
@pytest.mark.parametrize(("args", "expected"), FROM_ANYWHERE, ids=[a[0] for a, _ in FROM_ANYWHERE])
def test_every_command_works_from_a_subfolder(full_project: Path, start: str, args: tuple[str, ...], expected: str) -> None:
    (full_project / "event.json").write_text('{"event_type": "chain_complete", "chain_name": "x"}', encoding="utf-8")
    result = cli(full_project / start, *(a.format(root=full_project) for a in args))
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout, result.stdout


@pytest.mark.parametrize("start", ["configs", "configs/automations"])
def test_build_from_a_subfolder_writes_into_the_root(full_project: Path, start: str) -> None:
    result = cli(full_project / start, "build")
    assert result.returncode == 0, result.stderr
    assert (full_project / "prefect.yaml").is_file() and (full_project / "deployments" / "definitions" / "good.json").is_file()
    assert not (full_project / start / "prefect.yaml").exists() and not (full_project / start / "deployments").exists()
    assert "directory: /srv/platform-god" in (full_project / "prefect.yaml").read_text()  # deploy.yaml was found
    assert cli(full_project / start, "build", "--check").stdout == "generated files are up to date\n"


def test_serve_from_a_subfolder_takes_the_roots_lock(project: Path) -> None:
    holder = subprocess.Popen(["sleep", "60"])
    try:
        lock = project / "var" / "serve.lock"
        lock.parent.mkdir()
        lock.write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}), encoding="utf-8")
        result = cli(project / "configs", "serve")
    finally:
        holder.kill()  # only the process this test started, by its PID
        holder.wait(timeout=10)
    assert (result.returncode, result.stderr) == (
        1, f"serve: this project is already served by PID {holder.pid} on host {socket.gethostname()} (lock {lock}); stop it first\n"
    )
    assert not (project / "configs" / "var").exists()
