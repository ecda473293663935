"""PG_DISCOVERY on real repositories: inventory numbers, languages, git revision, dry_run vs apply."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.agents import AgentRequest, AgentResult, DiscoveryAgent
from flows.agents.discovery import INVENTORY_RELPATH, language_for, read_git_revision

from .repo_builders import git, git_commit_all, snapshot, write_tree

SAMPLE = {
    "README.md": "# Sample\n",
    "src/app.py": "print('hello')\n" * 10,
    "src/util.py": "x = 1\n",
    "web/index.ts": "export const a = 1;\n",
    "config.yaml": "a: 1\n",
    "Makefile": "all:\n",
}


@pytest.fixture
def without_git_binary(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hide the git binary from the agent so the direct .git reader is what gets tested, not the fallback."""
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty-path")))


def discover(root: Path, mode: str = "dry_run") -> AgentResult:
    return DiscoveryAgent().run(AgentRequest(root, mode))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("filename", "language"),
    [
        ("a.py", "Python"),
        ("a.js", "JavaScript"),
        ("a.mjs", "JavaScript"),
        ("a.ts", "TypeScript"),
        ("a.go", "Go"),
        ("a.rs", "Rust"),
        ("A.java", "Java"),
        ("a.rb", "Ruby"),
        ("a.sh", "Shell"),
        ("a.yaml", "YAML"),
        ("a.yml", "YAML"),
        ("a.json", "JSON"),
        ("a.md", "Markdown"),
        ("pyproject.toml", "TOML"),
        ("a.html", "HTML"),
        ("a.css", "CSS"),
        ("a.c", "C"),
        ("a.h", "C"),
        ("a.cpp", "C++"),
        ("a.hpp", "C++"),
        ("A.PY", "Python"),
        ("Makefile", "Other"),
        ("image.png", "Other"),
        (".gitignore", "Other"),
    ],
)
def test_language_is_chosen_by_extension(filename: str, language: str) -> None:
    assert language_for(filename) == language


def test_file_count_covers_every_walked_file(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert discover(tmp_path).data["file_count"] == len(SAMPLE)


def test_total_bytes_is_the_sum_of_file_sizes(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert discover(tmp_path).data["total_bytes"] == sum(len(c.encode()) for c in SAMPLE.values())


def test_languages_have_file_counts_and_bytes(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    python_bytes = len(SAMPLE["src/app.py"]) + len(SAMPLE["src/util.py"])
    assert discover(tmp_path).data["languages"]["Python"] == {"files": 2, "bytes": python_bytes}


def test_languages_are_ordered_by_bytes(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert next(iter(discover(tmp_path).data["languages"])) == "Python"


def test_unmapped_files_count_as_other(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert discover(tmp_path).data["languages"]["Other"]["files"] == 1


def test_largest_files_are_the_top_ten_by_size(tmp_path: Path) -> None:
    write_tree(tmp_path, {f"f{i:02}.txt": "x" * i for i in range(15)})
    largest = discover(tmp_path).data["largest_files"]
    assert largest == [{"path": f"f{i:02}.txt", "bytes": i} for i in range(14, 4, -1)]


def test_revision_matches_git_for_a_loose_ref(tmp_path: Path, without_git_binary: None) -> None:
    write_tree(tmp_path, SAMPLE)
    head = git_commit_all(tmp_path)
    assert discover(tmp_path).data["git"] == {"revision": head, "branch": "main"}


def test_revision_is_read_from_packed_refs(tmp_path: Path, without_git_binary: None) -> None:
    write_tree(tmp_path, SAMPLE)
    head = git_commit_all(tmp_path)
    git(tmp_path, "pack-refs", "--all")
    assert not (tmp_path / ".git/refs/heads/main").exists()
    assert read_git_revision(tmp_path)["revision"] == head


def test_revision_of_a_detached_head(tmp_path: Path, without_git_binary: None) -> None:
    write_tree(tmp_path, SAMPLE)
    first = git_commit_all(tmp_path, "first")
    git_commit_all(tmp_path, "second")
    git(tmp_path, "checkout", "-q", "--detach", first)
    assert read_git_revision(tmp_path) == {"revision": first, "branch": None}


def test_revision_of_a_subfolder_is_the_enclosing_repository(tmp_path: Path, without_git_binary: None) -> None:
    write_tree(tmp_path, SAMPLE)
    head = git_commit_all(tmp_path)
    assert read_git_revision(tmp_path / "src")["revision"] == head


def test_revision_of_a_linked_worktree(tmp_path: Path, without_git_binary: None) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    git_commit_all(repo, "first")
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    feature_head = git_commit_all(tmp_path / "wt", "on feature")
    assert read_git_revision(tmp_path / "wt") == {"revision": feature_head, "branch": "feature"}


def test_repository_without_commits_has_no_revision(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    git(tmp_path, "init", "-q", "-b", "main")
    assert read_git_revision(tmp_path) == {"revision": None, "branch": "main"}


def test_folder_outside_git_has_no_revision(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert discover(tmp_path).data["git"] == {"revision": None, "branch": None}


def test_dry_run_leaves_the_repository_byte_for_byte_unchanged(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    git_commit_all(tmp_path)
    before = snapshot(tmp_path)
    discover(tmp_path, "dry_run")
    assert snapshot(tmp_path) == before


def test_dry_run_reports_the_inventory_as_not_written(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert discover(tmp_path).data["inventory"] == {"path": INVENTORY_RELPATH, "written": False}


def test_apply_writes_the_inventory_file(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    result = discover(tmp_path, "apply")
    written = json.loads((tmp_path / INVENTORY_RELPATH).read_text())
    assert (written["file_count"], written["languages"]) == (result.data["file_count"], result.data["languages"])


def test_apply_reports_the_inventory_as_written(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert discover(tmp_path, "apply").data["inventory"] == {"path": INVENTORY_RELPATH, "written": True}


def test_inventory_does_not_count_itself_on_the_next_run(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    discover(tmp_path, "apply")
    assert discover(tmp_path, "apply").data["file_count"] == len(SAMPLE)


def test_apply_refuses_to_write_through_a_symlinked_output_folder(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", SAMPLE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / ".platform-god").symlink_to(outside, target_is_directory=True)
    result = discover(repo, "apply")
    assert (result.status, list(outside.iterdir())) == ("failed", [])


def test_result_is_json_serialisable(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    git_commit_all(tmp_path)
    result = discover(tmp_path, "apply")
    assert json.loads(json.dumps(result.to_dict())) == result.to_dict()


def test_summary_is_a_single_line(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    assert "\n" not in discover(tmp_path).summary


def test_truncation_is_reported(tmp_path: Path) -> None:
    write_tree(tmp_path, SAMPLE)
    result = DiscoveryAgent().run(AgentRequest(tmp_path, options={"max_files": 2}))
    assert (result.data["file_count"], result.data["truncated"]) == (2, True)
