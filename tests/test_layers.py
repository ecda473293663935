"""The three layers hold: import-linter's contracts in .importlinter pass, every module is in a layer, no import cycles."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

from tests import ROOT

PACKAGES = ("compiler", "flows", "platform_god")


def _lint_imports() -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "lint-imports"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*command, "--no-cache", "--config", str(ROOT / ".importlinter")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)


def test_import_linter_contracts_are_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, f"import-linter found imports across the layers:\n{result.stdout}\n{result.stderr}"
    assert "3 kept, 0 broken" in result.stdout, result.stdout


def test_compiler_holds_only_its_layers() -> None:
    """A module belongs to a layer by its path: compiler/ holds the two layer packages and the launcher, nothing else."""
    entries = {p.name for p in (ROOT / "compiler").iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", "__main__.py", "language", "commands"}, sorted(entries)


def _entered_packages(importer: str, imported: str) -> set[str]:
    """The packages whose ``__init__`` an import of ``imported`` by ``importer`` runs first: its ancestors that do not
    contain ``importer`` (from inside a package, its ``__init__`` has run or is running already)."""
    parts = imported.split(".")
    ancestors = (".".join(parts[:i]) for i in range(1, len(parts)))
    return {a for a in ancestors if importer != a and not importer.startswith(a + ".")}


def _import_graph() -> dict[str, set[str]]:
    """Each project module → the project modules that importing it (or calling it) imports."""
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True, cache_dir=None)
    return {
        module: {
            target
            for imported in graph.find_modules_directly_imported_by(module)
            for target in ({imported} | _entered_packages(module, imported))
        }
        for module in graph.modules
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (its modules in import order, the first repeated last) per strongly connected group (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = {stack.pop()}
            while module not in group:
                group.add(stack.pop())
            if len(group) > 1 or module in graph[module]:
                groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_shortest_cycle(graph, group) for group in groups]


def _shortest_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for target in sorted(graph[module] & group):
            if target == start:
                return [*paths[module], start]
            if target not in paths:
                paths[target] = [*paths[module], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")


def test_no_import_cycles_between_project_modules() -> None:
    """No module of compiler, flows or platform_god imports itself through others: a cycle makes the import order
    decide whether a name exists yet, and hides which of two modules sits below the other.

    Counted: module-level and function-local imports (grimp reads both: a function-local import is an import all
    the same, only later), and the package ``__init__`` that an import from outside a package runs first (importing
    ``flows.actions.base`` from ``flows.engine`` runs ``flows/actions/__init__.py``, which imports every action
    module). Not counted as an edge back to the package: a submodule importing a sibling (``flows.actions.http_request``
    importing ``flows.actions.base``) while the package's ``__init__`` imports both: inside the package its
    ``__init__`` has run or is running, nothing runs it again, so that pair is no import-time cycle. A submodule that
    imports a name from its own package's ``__init__`` is an ordinary edge and counts. Nor ``if TYPE_CHECKING:``
    imports, which never run.
    """
    cycles = _cycles(_import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(cycle) for cycle in cycles)
