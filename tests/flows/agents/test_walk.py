"""Shared repository walking: excluded folders, symlinks, bounds, binary and oversized files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.agents._walk import (
    MAX_SCAN_BYTES,
    RepoFile,
    SkipLog,
    read_scannable_text,
    walk_repository,
)

from .repo_builders import write_tree


def relpaths(root: Path, **kwargs: int) -> list[str]:
    return [f.relpath for f in walk_repository(root, **kwargs).files]


@pytest.mark.parametrize(
    "excluded", [".git", "node_modules", ".venv", "venv", "__pycache__", ".platform-god", "src/node_modules"]
)
def test_excluded_folders_are_not_walked(tmp_path: Path, excluded: str) -> None:
    write_tree(tmp_path, {"keep.py": "x", f"{excluded}/inner.txt": "y"})
    assert relpaths(tmp_path) == ["keep.py"]


def test_files_are_listed_folder_by_folder_in_name_order(tmp_path: Path) -> None:
    write_tree(tmp_path, {"b.txt": "", "a/z.txt": "", "a/b/c.txt": "", "c/d.txt": ""})
    assert relpaths(tmp_path) == ["b.txt", "a/z.txt", "a/b/c.txt", "c/d.txt"]


def test_file_sizes_are_recorded(tmp_path: Path) -> None:
    write_tree(tmp_path, {"five.txt": "12345"})
    assert walk_repository(tmp_path).files[0].size == 5


def test_symlink_outside_root_is_reported_as_skipped(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "s"})
    repo = write_tree(tmp_path / "repo", {"a.txt": "a"})
    (repo / "escape").symlink_to(outside, target_is_directory=True)
    assert walk_repository(repo).skipped.counts == {"symlink_outside_root": 1}


def test_symlink_outside_root_is_not_followed(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "s"})
    repo = write_tree(tmp_path / "repo", {"a.txt": "a"})
    (repo / "escape").symlink_to(outside, target_is_directory=True)
    (repo / "escape_file").symlink_to(outside / "secret.txt")
    assert relpaths(repo) == ["a.txt"]


def test_symlink_inside_root_is_not_followed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"real/a.txt": "a"})
    (tmp_path / "alias").symlink_to(tmp_path / "real", target_is_directory=True)
    assert relpaths(tmp_path) == ["real/a.txt"]


def test_broken_symlink_is_reported_as_skipped(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    assert walk_repository(tmp_path).skipped.counts == {"symlink_broken": 1}


def test_walk_stops_at_max_files_and_says_truncated(tmp_path: Path) -> None:
    write_tree(tmp_path, {f"f{i:02}.txt": "" for i in range(10)})
    walk = walk_repository(tmp_path, max_files=4)
    assert (len(walk.files), walk.truncated) == (4, True)


def test_walk_within_limit_is_not_truncated(tmp_path: Path) -> None:
    write_tree(tmp_path, {f"f{i:02}.txt": "" for i in range(4)})
    assert walk_repository(tmp_path, max_files=4).truncated is False


def test_skip_log_keeps_exact_counts_but_bounded_examples() -> None:
    log = SkipLog()
    for i in range(500):
        log.add(f"f{i}", "binary")
    data = log.as_data()
    assert (data["counts"], len(data["examples"])) == ({"binary": 500}, 50)


def file_at(path: Path) -> RepoFile:
    return RepoFile(path, path.name, path.stat().st_size)


def test_text_file_is_read_for_scanning(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("hello")
    assert read_scannable_text(file_at(path), SkipLog()) == "hello"


def test_binary_file_is_not_read_for_scanning(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"abc\0def")
    log = SkipLog()
    assert (read_scannable_text(file_at(path), log), log.counts) == (None, {"binary": 1})


def test_nul_byte_after_the_first_8_kb_still_counts_as_text(tmp_path: Path) -> None:
    path = tmp_path / "late.txt"
    path.write_bytes(b"a" * 8192 + b"\0")
    assert read_scannable_text(file_at(path), SkipLog()) is not None


def test_file_over_5_mb_is_not_read_for_scanning(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with path.open("wb") as handle:
        handle.truncate(MAX_SCAN_BYTES + 1)  # sparse: cheap to create
    log = SkipLog()
    assert (read_scannable_text(file_at(path), log), log.counts) == (None, {"too_large": 1})


def test_file_of_exactly_5_mb_is_read_for_scanning(tmp_path: Path) -> None:
    path = tmp_path / "edge.txt"
    path.write_bytes(b"a" * MAX_SCAN_BYTES)
    assert read_scannable_text(file_at(path), SkipLog()) is not None


@pytest.mark.skipif(not hasattr(os, "O_NOFOLLOW"), reason="platform without O_NOFOLLOW")
def test_symlink_swapped_in_after_the_walk_is_not_read(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("outside content")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    log = SkipLog()
    assert (read_scannable_text(RepoFile(link, "link.txt", 15), log), log.counts) == (None, {"unreadable": 1})
