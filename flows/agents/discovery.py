"""PG_DISCOVERY: inventory a repository (files, bytes, languages, largest files, git revision)."""

from __future__ import annotations

import heapq
import json
import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._walk import MAX_FILES, RepoWalk, walk_repository
from .base import AgentOutcome, AgentRequest, RepositoryAgent

__all__ = [
    "INVENTORY_RELPATH",
    "LANGUAGES_BY_EXTENSION",
    "DiscoveryAgent",
    "build_inventory",
    "language_for",
    "read_git_revision",
]

INVENTORY_RELPATH = ".platform-god/inventory.json"
LARGEST_FILES = 10

LANGUAGES_BY_EXTENSION: dict[str, str] = {
    ".py": "Python",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".cjs": "JavaScript",
    ".jsx": "JavaScript",
    ".ts": "TypeScript",
    ".tsx": "TypeScript",
    ".go": "Go",
    ".rs": "Rust",
    ".java": "Java",
    ".rb": "Ruby",
    ".sh": "Shell",
    ".bash": "Shell",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".json": "JSON",
    ".md": "Markdown",
    ".toml": "TOML",
    ".html": "HTML",
    ".htm": "HTML",
    ".css": "CSS",
    ".c": "C",
    ".h": "C",
    ".cpp": "C++",
    ".cc": "C++",
    ".cxx": "C++",
    ".hpp": "C++",
}

_SHA_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1, or SHA-256 object format
_GIT_TIMEOUT_S = 10


def language_for(filename: str) -> str:
    """Language by (case-insensitive) extension; anything unmapped is "Other"."""
    return LANGUAGES_BY_EXTENSION.get(os.path.splitext(filename)[1].lower(), "Other")


def build_inventory(walk: RepoWalk) -> dict[str, Any]:
    """File count, bytes, per-language counts/bytes (largest first) and the top files by size."""
    languages: dict[str, dict[str, int]] = {}
    for file in walk.files:
        entry = languages.setdefault(language_for(file.relpath.rsplit("/", 1)[-1]), {"files": 0, "bytes": 0})
        entry["files"] += 1
        entry["bytes"] += file.size
    largest = heapq.nsmallest(LARGEST_FILES, walk.files, key=lambda f: (-f.size, f.relpath))
    return {
        "file_count": len(walk.files),
        "total_bytes": walk.total_bytes,
        "languages": dict(sorted(languages.items(), key=lambda item: (-item[1]["bytes"], item[0]))),
        "largest_files": [{"path": f.relpath, "bytes": f.size} for f in largest],
        "truncated": walk.truncated,
        "skipped": walk.skipped.as_data(),
    }


# --- git ----------------------------------------------------------------------------------------------


def _find_git_dir(root: Path) -> Path | None:
    # Search upwards like git does, so a folder inside a monorepo reports the monorepo's revision.
    for candidate in (root, *root.parents):
        dotgit = candidate / ".git"
        if dotgit.is_dir():
            return dotgit
        if dotgit.is_file():  # worktrees and submodules: ".git" is a file "gitdir: <path>"
            content = dotgit.read_text(encoding="utf-8", errors="replace").strip()
            if content.startswith("gitdir:"):
                return (candidate / content.removeprefix("gitdir:").strip()).resolve()
            return None
    return None


def _common_dir(git_dir: Path) -> Path:
    # Linked worktrees keep HEAD locally but branches in the main repository's git dir.
    commondir = git_dir / "commondir"
    if commondir.is_file():
        return (git_dir / commondir.read_text(encoding="utf-8").strip()).resolve()
    return git_dir


def _resolve_ref(git_dir: Path, ref: str, depth: int = 0) -> str | None:
    if depth > 5:  # symbolic ref loop
        return None
    common = _common_dir(git_dir)
    for base in dict.fromkeys((git_dir, common)):
        ref_file = base / ref
        if ref_file.is_file():
            content = ref_file.read_text(encoding="utf-8", errors="replace").strip()
            if content.startswith("ref:"):
                return _resolve_ref(git_dir, content.removeprefix("ref:").strip(), depth + 1)
            return content if _SHA_RE.fullmatch(content) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(("#", "^")):
                continue  # header and peeled-tag lines
            sha, _, name = line.partition(" ")
            if name.strip() == ref and _SHA_RE.fullmatch(sha):
                return sha
    return None


def _git_rev_parse(root: Path) -> str | None:
    # Fallback for layouts the file reader does not understand (e.g. the reftable format).
    git = shutil.which("git")
    if git is None:
        return None
    try:
        completed = subprocess.run(
            [git, "rev-parse", "--verify", "--quiet", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            # Never take optional locks or prompt: dry_run must not touch the repository.
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = completed.stdout.strip()
    return sha if completed.returncode == 0 and _SHA_RE.fullmatch(sha) else None


def read_git_revision(root: Path) -> dict[str, Any]:
    """``{"revision", "branch"}`` of the repository containing ``root``; both None outside a git repository.

    Reads ``HEAD``, the ref file and ``packed-refs`` directly (no git binary needed, nothing written); only
    when that cannot resolve an existing HEAD is ``git rev-parse HEAD`` tried. A branch without commits
    yet has a branch name but revision None.
    """
    try:
        git_dir = _find_git_dir(root)
        if git_dir is None or not (git_dir / "HEAD").is_file():
            return {"revision": None, "branch": None}
        head = (git_dir / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        if head.startswith("ref:"):
            ref = head.removeprefix("ref:").strip()
            branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
            revision = _resolve_ref(git_dir, ref)
        else:
            branch = None  # detached HEAD holds the commit id itself
            revision = head if _SHA_RE.fullmatch(head) else None
    except OSError:
        return {"revision": None, "branch": None}
    if revision is None:
        revision = _git_rev_parse(root)
    return {"revision": revision, "branch": branch}


# --- agent --------------------------------------------------------------------------------------------


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable; keeps type checkers content


def _write_inventory(root: Path, inventory: dict[str, Any]) -> None:
    target = root / INVENTORY_RELPATH
    if target.parent.is_symlink():
        # Writing through a symlinked .platform-god could land outside the repository.
        raise OSError(f"refusing to write through symlink {target.parent}")
    target.parent.mkdir(exist_ok=True)
    # Temp file + rename: readers never see a half-written inventory.
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".inventory.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(inventory, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(temp_name, 0o644)  # mkstemp creates 0600; the inventory is meant to be read by tooling
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


class DiscoveryAgent(RepositoryAgent):
    """Inventories a repository; with mode "apply" also writes ``.platform-god/inventory.json``."""

    name = "PG_DISCOVERY"
    description = "Inventory files, sizes, languages, largest files and git revision of a repository."
    accepted_options = frozenset({"max_files"})

    def inspect(self, root: Path, request: AgentRequest) -> AgentOutcome:
        max_files = self.int_option(request, "max_files", MAX_FILES, minimum=1, maximum=MAX_FILES)
        inventory = build_inventory(walk_repository(root, max_files=max_files))
        inventory["git"] = read_git_revision(root)
        data: dict[str, Any] = {**inventory, "inventory": {"path": INVENTORY_RELPATH, "written": False}}
        revision = inventory["git"]["revision"]
        summary = (
            f"{inventory['file_count']} files, {_human_bytes(inventory['total_bytes'])}, "
            f"{len(inventory['languages'])} languages; revision {revision[:12] if revision else 'none'}"
        )
        if request.mode != "apply":
            return AgentOutcome(summary=summary + "; dry run, inventory not written", data=data)
        document = {
            "schema_version": 1,
            "agent": self.name,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **inventory,
        }
        try:
            _write_inventory(root, document)
        except OSError as exc:
            # Keep the computed inventory in the output: only the write failed.
            data["inventory"]["error"] = f"{type(exc).__name__}: {exc}"
            return AgentOutcome(summary=summary + f"; writing inventory failed: {exc}", data=data, status="failed")
        data["inventory"]["written"] = True
        return AgentOutcome(summary=summary + f"; inventory written to {INVENTORY_RELPATH}", data=data)
