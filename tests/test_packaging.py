"""pyproject.toml declares every third-party package the code imports directly (not only what Prefect happens to
install today): the runtime's in ``dependencies`` (or an optional extra for imports made only on that path),
the tests' and benchmarks' in the ``test`` extra.

Beside deptry (tests/test_static_checks.py), which checks the runtime's imports and unused declarations, this checks
what deptry does not: the imports of tests/ (deptry skips that folder), and that a module-level import of the runtime
is in ``dependencies``, not only in an optional extra (deptry counts every extra but ``test`` as installed; checked:
a module-level ``import prefect_redis`` in flows/ passes deptry)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import lru_cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("compiler", "flows", "platform_god")
DEVELOPMENT = ("tests", "benchmarks")
LOCAL = {*RUNTIME, *DEVELOPMENT}


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    assert match, requirement
    return _normalized(match.group(0))


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = {extra: {_requirement_name(r) for r in reqs} for extra, reqs in project.get("optional-dependencies", {}).items()}
    return {_requirement_name(r) for r in project["dependencies"]}, extras


def _imports(folder: str) -> list[tuple[str, str, bool]]:
    """(file:line, top-level module, imported at module level) of every absolute import of a third-party module."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        module_level = {id(node) for node in tree.body}
        siblings = {p.stem for p in path.parent.glob("*.py")}  # benchmarks/_common.py is imported as _common
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in LOCAL or top in siblings or top == "__future__":
                    continue
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", top, id(node) in module_level))
    return found


@lru_cache(maxsize=1)
def _installed() -> dict[str, list[str]]:
    return packages_distributions()  # reads every installed distribution's file list: once


def _distributions(module: str) -> set[str]:
    return {_normalized(d) for d in _installed().get(module, [])}


def _undeclared(folders: tuple[str, ...], allowed_at_module_level: set[str], allowed_inside: set[str]) -> list[str]:
    missing = []
    for folder in folders:
        for where, module, at_module_level in _imports(folder):
            allowed = allowed_at_module_level if at_module_level else allowed_inside
            if not _distributions(module) & allowed:
                missing.append(f"{where}: {module} (installed by {sorted(_distributions(module)) or 'nothing'})")
    return missing


@pytest.mark.parametrize(
    "folders",
    [pytest.param(RUNTIME, id="runtime"), pytest.param(DEVELOPMENT, id="tests-and-benchmarks")],
)
def test_every_directly_imported_package_is_declared(folders: tuple[str, ...]) -> None:
    main, extras = _declared()
    if folders == RUNTIME:
        # An import inside a function may come from an extra (prefect-redis only with AUTOMATIONS_LOCK_URL=redis://…).
        optional = set().union(*(names for extra, names in extras.items() if extra != "test"))
        missing = _undeclared(folders, main, main | optional)
    else:
        missing = _undeclared(folders, main | extras["test"], main | extras["test"])
    assert missing == [], "declare these in pyproject.toml:\n" + "\n".join(missing)
