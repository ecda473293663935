"""Bounded, symlink-safe walking and reading of repository files shared by the built-in agents."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BINARY_SNIFF_BYTES",
    "MAX_FILES",
    "MAX_SCAN_BYTES",
    "SKIP_DIR_NAMES",
    "RepoFile",
    "RepoWalk",
    "SkipLog",
    "read_scannable_text",
    "walk_repository",
]

# Tooling and dependency folders: huge, not authored in this repository, and .platform-god holds our own output.
SKIP_DIR_NAMES: frozenset[str] = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", ".platform-god"})
MAX_FILES = 50_000  # caps the work of one run on a huge monorepo; the result says "truncated"
MAX_SCAN_BYTES = 5 * 1024 * 1024  # larger files are almost always data or artefacts, not source with secrets
BINARY_SNIFF_BYTES = 8 * 1024  # the same heuristic git uses: a NUL byte early on means binary
MAX_SKIP_EXAMPLES = 50  # skipped paths listed in the output; counts stay exact, the payload stays small

# O_NOFOLLOW closes the window between the walk (which saw a regular file) and the read (which could
# otherwise follow a symlink swapped in meanwhile). Not every platform has it.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


@dataclass(frozen=True)
class RepoFile:
    """A regular file inside the root; ``relpath`` is POSIX-style and safe to print."""

    path: Path
    relpath: str
    size: int


@dataclass
class SkipLog:
    """Why paths were not walked or scanned: exact counts by reason plus the first few examples."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, str]] = field(default_factory=list)

    def add(self, relpath: str, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if len(self.examples) < MAX_SKIP_EXAMPLES:
            self.examples.append({"path": relpath, "reason": reason})

    def as_data(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "examples": list(self.examples)}


@dataclass
class RepoWalk:
    """Files under ``root``, deterministic: each folder's files by name, then its subfolders (depth-first)."""

    root: Path
    files: list[RepoFile]
    skipped: SkipLog
    truncated: bool
    max_files: int

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _printable(relpath: str) -> str:
    # Undecodable file-name bytes arrive as lone surrogates, which break UTF-8 JSON encoding downstream.
    return relpath.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _is_within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives on Windows
        return False


def walk_repository(root: Path, *, max_files: int = MAX_FILES) -> RepoWalk:
    """List regular files under ``root`` without following symlinks, skipping SKIP_DIR_NAMES folders.

    Symlinks are never followed (a link inside the root points at content that is walked anyway; one
    pointing outside must not leak foreign files into the report); they are recorded in the skip log as
    ``symlink``, ``symlink_outside_root`` or ``symlink_broken``. Stops after ``max_files`` files.
    """
    root = root.resolve()
    root_str = str(root)
    files: list[RepoFile] = []
    skipped = SkipLog()
    # Explicit stack instead of os.walk: we need per-entry symlink classification and an early stop.
    stack: list[tuple[str, str]] = [(root_str, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as iterator:
                entries = sorted(iterator, key=lambda e: e.name)
        except OSError:
            skipped.add(_printable(prefix.rstrip("/") or "."), "unreadable")
            continue
        subdirectories: list[tuple[str, str]] = []
        for entry in entries:
            relpath = prefix + entry.name
            try:
                if entry.is_symlink():
                    target = os.path.realpath(entry.path)
                    if not os.path.exists(target):
                        reason = "symlink_broken"
                    elif _is_within(target, root_str):
                        reason = "symlink"
                    else:
                        reason = "symlink_outside_root"
                    skipped.add(_printable(relpath), reason)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name in SKIP_DIR_NAMES:
                        skipped.add(_printable(relpath), "excluded_dir")
                    else:
                        subdirectories.append((entry.path, relpath + "/"))
                elif entry.is_file(follow_symlinks=False):
                    if len(files) >= max_files:
                        return RepoWalk(root, files, skipped, truncated=True, max_files=max_files)
                    size = entry.stat(follow_symlinks=False).st_size
                    files.append(RepoFile(Path(entry.path), _printable(relpath), size))
                else:
                    skipped.add(_printable(relpath), "not_regular_file")  # sockets, FIFOs, devices
            except OSError:
                skipped.add(_printable(relpath), "unreadable")
        # Reverse so the stack pops subdirectories in sorted order.
        stack.extend(reversed(subdirectories))
    return RepoWalk(root, files, skipped, truncated=False, max_files=max_files)


def read_scannable_text(file: RepoFile, skipped: SkipLog) -> str | None:
    """Text of a file worth scanning for content, or None (too large, binary, unreadable) noted in ``skipped``."""
    if file.size > MAX_SCAN_BYTES:
        skipped.add(file.relpath, "too_large")
        return None
    try:
        fd = os.open(file.path, _OPEN_FLAGS)
        with os.fdopen(fd, "rb") as handle:
            # +1 so a file that grew past the limit since the walk is still recognised as too large.
            data = handle.read(MAX_SCAN_BYTES + 1)
    except OSError:
        skipped.add(file.relpath, "unreadable")
        return None
    if len(data) > MAX_SCAN_BYTES:
        skipped.add(file.relpath, "too_large")
        return None
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        skipped.add(file.relpath, "binary")
        return None
    # Patterns are ASCII; replacement keeps Latin-1 or broken UTF-8 files scannable instead of skipped.
    return data.decode("utf-8", errors="replace")
