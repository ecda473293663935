"""Helpers that build small real repositories on disk (files, git history) and snapshot them for comparison."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

__all__ = ["fake_secrets", "git", "git_commit_all", "snapshot", "write_tree"]


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Create ``files`` (relative POSIX path -> text or bytes) under ``root`` and return ``root``."""
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


# Isolated from the machine's git configuration so commits work the same everywhere (no signing, no hooks).
_GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(root: Path, *args: str) -> str:
    """Run git in ``root`` and return its stripped stdout; fails the test on a non-zero exit."""
    completed = subprocess.run(
        ["git", *args], cwd=root, env=_GIT_ENV, capture_output=True, text=True, check=True, timeout=60
    )
    return completed.stdout.strip()


def git_commit_all(root: Path, message: str = "commit") -> str:
    """``git init`` (branch main) if needed, commit everything, return the new HEAD revision."""
    if not (root / ".git").exists():
        git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Every path under ``root`` (including .git) with its kind, mtime and content: equal means untouched."""
    state: dict[str, tuple[str, int, bytes]] = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            relpath = os.path.relpath(path, root)
            if os.path.islink(path):
                state[relpath] = ("link", info.st_mtime_ns, os.readlink(path).encode())
            elif os.path.isdir(path):
                state[relpath] = ("dir", info.st_mtime_ns, b"")
            else:
                state[relpath] = ("file", info.st_mtime_ns, Path(path).read_bytes())
    state["."] = ("dir", os.lstat(root).st_mtime_ns, b"")
    return state


def fake_secrets() -> dict[str, str]:
    """Syntactically valid but fake credentials, assembled at run time.

    Building them from pieces keeps literal credential patterns out of this source file, so the project's
    own secret scanning (and hosting-side push protection) does not flag the test suite.
    """
    return {
        "aws": "AK" + "IA" + "QX7T2MBN4RLK6PZW",
        "github": "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0" + "k1L2m3N4o5P6q7R8",
        "slack": "xo" + "xb-" + "123456789012-" + "AbCdEfGhIjKl",
        "password": "hunter2" + "-Zq81!x",
        "private_key_body": "MIIEow" + "IBAAKCAQEA7fakekeymaterialonlyfortests0123456789",
    }
