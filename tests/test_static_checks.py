"""Static checks run with the suite (CI runs only the suite): ruff, mypy, deptry, and commented function-local imports."""

from __future__ import annotations

import ast
import io
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from tests import ROOT

PACKAGES = ("compiler", "flows", "platform_god")
def _tool(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """The tool installed next to this interpreter (the `test` extra), run in the project root."""
    executable = Path(sys.executable).parent / name
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", name]
    return subprocess.run([*command, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize(
    ("tool", "args"),
    [
        pytest.param("ruff", ("check", "--no-cache", "."), id="ruff"),
        # The configuration is pyproject.toml's [tool.mypy]; .mypy_cache makes a second run fast, CI starts without it.
        pytest.param("mypy", (), id="mypy"),
        pytest.param("deptry", (".",), id="deptry"),
    ],
)
def test_tool_reports_no_problem(tool: str, args: tuple[str, ...]) -> None:
    done = _tool(tool, *args, timeout=900)
    assert done.returncode == 0, f"{tool} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def _comment_lines(source: str) -> set[int]:
    return {token.start[0] for token in tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.COMMENT}


def _uncommented_local_imports(path: Path) -> list[int]:
    """Lines of imports inside functions with no comment on their line, on the line above, or above the run of
    imports they belong to (one comment may explain a block of consecutive imports, blank lines between sections allowed)."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    comments = _comment_lines(source)
    imports = sorted(
        (node.lineno, node.end_lineno or node.lineno)
        for function in ast.walk(ast.parse(source))
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Import | ast.ImportFrom)
    )
    explained: set[int] = set()
    bare: list[int] = []
    for start, end in dict.fromkeys(imports):
        above = start - 1
        while above > 0 and not lines[above - 1].strip():  # isort's blank line between import sections
            above -= 1
        if start in comments or start - 1 in comments or above in explained:
            explained.add(end)
        else:
            bare.append(start)
    return bare


def test_every_function_local_import_says_why() -> None:
    """A function-local import hides a dependency and costs a lookup per call: it stays only with a comment saying
    why (what importing it at module level would cost, measured, and who would pay; or a real cycle with Prefect)."""
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for line in _uncommented_local_imports(path)
    ]
    assert not found, "function-local imports without a comment saying why (hoist them, or say why not):\n" + "\n".join(found)
