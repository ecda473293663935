"""PG_HEALTH on real repositories: each signal moves the score as the documented formula says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonpath_ng import parse as jsonpath

from flows.agents import AgentRequest, AgentResult, HealthAgent
from flows.agents.health import LARGE_FILE_BYTES

from .repo_builders import fake_secrets, git_commit_all, snapshot, write_tree

S = fake_secrets()
PRIVATE_KEY = f"-----BEGIN {'RSA PRIVATE KEY'}-----\n{S['private_key_body']}\n"

TIDY = {
    "README.md": "# Tidy\n",
    "LICENSE": "MIT\n",
    ".github/workflows/ci.yml": "on: push\n",
    "src/tidy/__init__.py": "VALUE = 1\n",
    "tests/test_tidy.py": "def test_value():\n    assert True\n",
}


def health(root: Path) -> AgentResult:
    return HealthAgent().run(AgentRequest(root))


def score(root: Path) -> int:
    return int(health(root).data["metrics"]["health_score"])


def check(root: Path, check_id: str) -> dict[str, object]:
    return next(c for c in health(root).data["checks"] if c["id"] == check_id)


def test_tidy_repository_scores_100(tmp_path: Path) -> None:
    assert score(write_tree(tmp_path, TIDY)) == 100


def test_committed_private_key_without_readme_scores_lower_than_a_tidy_repo(tmp_path: Path) -> None:
    tidy = write_tree(tmp_path / "tidy", TIDY)
    messy = {k: v for k, v in TIDY.items() if k != "README.md"} | {"deploy/id_rsa": PRIVATE_KEY}
    assert score(write_tree(tmp_path / "messy", messy)) < score(tidy)


# (file removed from or added to the tidy repository, check that fails, its penalty)
SIGNALS = [
    ("-README.md", "readme", 15),
    ("-tests/test_tidy.py", "tests", 20),
    ("-LICENSE", "license", 10),
    ("-.github/workflows/ci.yml", "ci", 10),
    ("+deploy/id_rsa", "security", 15),
    ("+.env", "security", 5),
]


def tidy_variant(root: Path, change: str) -> Path:
    files = dict(TIDY)
    if change.startswith("-"):
        del files[change[1:]]
    else:
        files[change[1:]] = PRIVATE_KEY if change.endswith("id_rsa") else "A=1\n"
    return write_tree(root, files)


@pytest.mark.parametrize(("change", "check_id", "penalty"), SIGNALS)
def test_each_signal_costs_its_documented_penalty(tmp_path: Path, change: str, check_id: str, penalty: int) -> None:
    assert score(tidy_variant(tmp_path, change)) == 100 - penalty


@pytest.mark.parametrize(("change", "check_id", "penalty"), SIGNALS)
def test_each_signal_fails_its_check(tmp_path: Path, change: str, check_id: str, penalty: int) -> None:
    assert check(tidy_variant(tmp_path, change), check_id)["passed"] is False


@pytest.mark.parametrize(
    "ci_file", [".gitlab-ci.yml", ".ci/run", ".github/workflows/test.yaml", ".circleci/config.yml"]
)
def test_ci_configurations_are_recognised(tmp_path: Path, ci_file: str) -> None:
    files = {k: v for k, v in TIDY.items() if not k.startswith(".github/")} | {ci_file: "x\n"}
    assert health(write_tree(tmp_path, files)).data["metrics"]["has_ci"] is True


@pytest.mark.parametrize("test_file", ["test/a.js", "pkg/foo_test.go", "web/app.spec.ts", "lib/test_x.py"])
def test_test_layouts_are_recognised(tmp_path: Path, test_file: str) -> None:
    files = {k: v for k, v in TIDY.items() if not k.startswith("tests/")} | {test_file: "x\n"}
    assert health(write_tree(tmp_path, files)).data["metrics"]["has_tests"] is True


def test_security_penalty_is_capped(tmp_path: Path) -> None:
    files = TIDY | {f"keys/id_{i}": PRIVATE_KEY for i in range(5)}
    assert check(write_tree(tmp_path, files), "security")["penalty"] == 30


def test_large_files_cost_one_point_per_percent(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {**TIDY, **{f"src/m{i:02}.py": "x = 1\n" for i in range(45)}}
    files["data/big.bin"] = b"\1" * (LARGE_FILE_BYTES + 1)  # 1 of 50 files = 2 %
    assert check(write_tree(tmp_path, files), "large_files")["penalty"] == 2


def test_todo_markers_cost_one_point_per_ten(tmp_path: Path) -> None:
    files = TIDY | {"src/tidy/work.py": "# TODO later\n" * 15 + "# FIXME now\n" * 10}
    assert check(write_tree(tmp_path, files), "todos")["penalty"] == 2


def test_score_equals_100_minus_the_sum_of_penalties(tmp_path: Path) -> None:
    data = health(write_tree(tmp_path, {"a.txt": PRIVATE_KEY, "b.py": "# TODO\n" * 30})).data
    assert data["metrics"]["health_score"] == 100 - sum(c["penalty"] for c in data["checks"])


def test_empty_folder_scores_without_error(tmp_path: Path) -> None:
    assert score(tmp_path) == 100 - 15 - 20 - 10 - 10


def test_health_score_is_reachable_by_jsonpath(tmp_path: Path) -> None:
    data = health(write_tree(tmp_path, TIDY)).data
    assert [m.value for m in jsonpath("$.metrics.health_score").find(data)] == [100]


def test_health_run_leaves_the_repository_byte_for_byte_unchanged(tmp_path: Path) -> None:
    write_tree(tmp_path, TIDY | {"a.txt": PRIVATE_KEY})
    git_commit_all(tmp_path)
    before = snapshot(tmp_path)
    HealthAgent().run(AgentRequest(tmp_path, "apply"))
    assert snapshot(tmp_path) == before


def test_result_is_json_serialisable(tmp_path: Path) -> None:
    result = health(write_tree(tmp_path, TIDY | {"a.txt": PRIVATE_KEY}))
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_private_key_material_never_appears_in_the_result(tmp_path: Path) -> None:
    result = health(write_tree(tmp_path, TIDY | {"a.txt": PRIVATE_KEY}))
    assert S["private_key_body"] not in json.dumps(result.to_dict())
