"""PG_HEALTH: a 0-100 repository health score from README, tests, license, CI, secrets, large files and TODOs."""

# Formula: health_score = max(0, 100 - sum(penalties)). The maximum penalties add up to exactly 100, so
# every lost point is explained by one entry of data["checks"]:
#
#   check        penalty                                                                         max
#   readme       15 when there is no README* at the root, in docs/ or in .github/                 15
#   tests        20 when there is no tests folder (tests/test/__tests__/spec) or test file        20
#   license      10 when there is no LICENSE*/LICENCE*/COPYING* at the root                       10
#   ci           10 when there is no .github/workflows/*.yml, .gitlab-ci.yml, .ci/ (or similar)   10
#   security     15 per high and 5 per medium PG_SECURITY_SCAN finding                            30
#   large_files  1 per percentage point (rounded) of files larger than 1 MiB                      10
#   todos        1 per 10 TODO/FIXME markers in scanned text files                                 5
#
# Weights: missing tests hurt most (nothing guards changes), then a committed secret or a missing README
# (onboarding), then license/CI; large files and TODOs are hygiene hints that cannot dominate the score.

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ._walk import MAX_FILES, RepoFile, RepoWalk, walk_repository
from .base import AgentOutcome, AgentRequest, RepositoryAgent
from .security_scan import scan_repository

__all__ = ["LARGE_FILE_BYTES", "PENALTIES", "HealthAgent", "compute_health"]

LARGE_FILE_BYTES = 1024 * 1024  # "very large" for a source repository: usually a build artefact or data dump

# Fixed penalties (check id -> points) and caps of the graded ones; see the module docstring.
PENALTIES: dict[str, int] = {"readme": 15, "tests": 20, "license": 10, "ci": 10}
SECURITY_HIGH_PENALTY, SECURITY_MEDIUM_PENALTY, SECURITY_MAX_PENALTY = 15, 5, 30
LARGE_FILES_MAX_PENALTY = 10
TODOS_PER_POINT, TODOS_MAX_PENALTY = 10, 5

_TODO_RE = re.compile(r"\b(?:TODO|FIXME)\b")  # upper case only: "todo" in prose is not a marker
_TEST_DIRS = frozenset({"tests", "test", "__tests__", "spec"})
_TEST_FILE_RE = re.compile(r"^(?:test_.+\.py|.+_test\.(?:py|go)|.+\.(?:test|spec)\.(?:[cm]?js|jsx|ts|tsx))$")
_CI_FILES = frozenset(
    {".gitlab-ci.yml", ".travis.yml", "Jenkinsfile", "azure-pipelines.yml", "bitbucket-pipelines.yml"}
)


def _has_readme(paths: list[str]) -> bool:
    # GitHub renders a README from the root, docs/ or .github/.
    return any(
        (len(parts) == 1 or (len(parts) == 2 and parts[0] in {"docs", ".github"}))
        and parts[-1].lower().startswith("readme")
        for parts in (p.split("/") for p in paths)
    )


def _has_license(paths: list[str]) -> bool:
    return any("/" not in p and p.lower().startswith(("license", "licence", "copying")) for p in paths)


def _has_tests(paths: list[str]) -> bool:
    for path in paths:
        *folders, name = path.split("/")
        if _TEST_DIRS.intersection(folders) or _TEST_FILE_RE.match(name):
            return True
    return False


def _has_ci(paths: list[str]) -> bool:
    for path in paths:
        if path in _CI_FILES or path.startswith(".ci/") or path == ".circleci/config.yml":
            return True
        if path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")):
            return True
    return False


def compute_health(walk: RepoWalk) -> dict[str, Any]:
    """``{"metrics": {...}, "checks": [...]}`` for a walked repository (one read of each text file)."""
    paths = [f.relpath for f in walk.files]
    todo_count = 0

    def count_todos(_file: RepoFile, text: str) -> None:
        nonlocal todo_count
        todo_count += len(_TODO_RE.findall(text))

    security = scan_repository(walk.root, walk=walk, text_visitor=count_todos)
    severity = security.by_severity()
    large_files = sum(1 for f in walk.files if f.size > LARGE_FILE_BYTES)
    large_ratio = large_files / len(walk.files) if walk.files else 0.0

    presence = {
        "readme": (_has_readme(paths), "README at the root, docs/ or .github/"),
        "tests": (_has_tests(paths), "tests folder or test files"),
        "license": (_has_license(paths), "LICENSE/LICENCE/COPYING at the root"),
        "ci": (_has_ci(paths), "CI configuration (.github/workflows, .gitlab-ci.yml, .ci/, ...)"),
    }
    checks: list[dict[str, Any]] = [
        {"id": check, "passed": passed, "penalty": 0 if passed else PENALTIES[check], "detail": detail}
        for check, (passed, detail) in presence.items()
    ]
    security_penalty = min(
        SECURITY_MAX_PENALTY, SECURITY_HIGH_PENALTY * severity["high"] + SECURITY_MEDIUM_PENALTY * severity["medium"]
    )
    large_penalty = min(LARGE_FILES_MAX_PENALTY, round(large_ratio * 100))
    todo_penalty = min(TODOS_MAX_PENALTY, todo_count // TODOS_PER_POINT)
    checks += [
        {
            "id": "security",
            "passed": security_penalty == 0,
            "penalty": security_penalty,
            "detail": f"{severity['high']} high and {severity['medium']} medium potential secrets",
        },
        {
            "id": "large_files",
            "passed": large_penalty == 0,
            "penalty": large_penalty,
            "detail": f"{large_files} of {len(walk.files)} files larger than {LARGE_FILE_BYTES} bytes",
        },
        {
            "id": "todos",
            "passed": todo_penalty == 0,
            "penalty": todo_penalty,
            "detail": f"{todo_count} TODO/FIXME markers",
        },
    ]
    metrics: dict[str, Any] = {
        "health_score": max(0, 100 - sum(c["penalty"] for c in checks)),
        "has_readme": presence["readme"][0],
        "has_tests": presence["tests"][0],
        "has_license": presence["license"][0],
        "has_ci": presence["ci"][0],
        "security_findings_high": severity["high"],
        "security_findings_medium": severity["medium"],
        "large_files": large_files,
        "large_file_ratio": round(large_ratio, 4),
        "todo_count": todo_count,
        "file_count": len(walk.files),
        "files_scanned": security.files_scanned,
        "truncated": walk.truncated,
    }
    return {"metrics": metrics, "checks": checks}


class HealthAgent(RepositoryAgent):
    """Scores repository hygiene; read-only in every mode."""

    name = "PG_HEALTH"
    description = "Score repository health 0-100 from README, tests, license, CI, secrets, large files, TODOs."
    accepted_options = frozenset({"max_files"})

    def inspect(self, root: Path, request: AgentRequest) -> AgentOutcome:
        max_files = self.int_option(request, "max_files", MAX_FILES, minimum=1, maximum=MAX_FILES)
        walk = walk_repository(root, max_files=max_files)
        data = compute_health(walk)
        data["skipped"] = walk.skipped.as_data()
        failed = [c["id"] for c in data["checks"] if not c["passed"]]
        summary = f"health score {data['metrics']['health_score']}/100" + (
            f"; issues: {', '.join(failed)}" if failed else "; all checks passed"
        )
        return AgentOutcome(summary=summary, data=data)
