"""The documented public API of each package imports, and importing the package alone stays cheap."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("compiler", "flows")


def _public(package: str) -> list[tuple[str, str]]:
    return [(package, name) for name in importlib.import_module(package).__all__]


@pytest.mark.parametrize(("package", "name"), [pair for package in PACKAGES for pair in _public(package)])
def test_every_public_name_imports(package: str, name: str) -> None:
    module = importlib.import_module(package)
    assert getattr(module, name) is not None


@pytest.mark.parametrize("package", PACKAGES)
def test_star_import_gives_exactly_the_public_names(package: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)
    assert sorted(n for n in namespace if not n.startswith("__")) == sorted(importlib.import_module(package).__all__)


def _type_checking_imports(package: str) -> dict[str, str]:
    """name → module of the imports under ``if TYPE_CHECKING:`` in the package's ``__init__.py``."""
    tree = ast.parse((ROOT / package / "__init__.py").read_text(encoding="utf-8"))
    guarded = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    return {
        alias.asname or alias.name: str(statement.module)
        for block in guarded
        for statement in block.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }


@pytest.mark.parametrize("package", PACKAGES)
def test_type_checkers_see_every_lazy_export_where_it_is_loaded_from(package: str) -> None:
    # Editors and mypy cannot follow the module __getattr__: the TYPE_CHECKING imports name the same
    # objects from the same modules, and __all__ is a literal list of the same names.
    module = importlib.import_module(package)
    assert _type_checking_imports(package) == module._EXPORTS
    assert module.__all__ == sorted(module._EXPORTS)


@pytest.mark.parametrize("package", PACKAGES)
def test_readme_lists_the_public_names(package: str) -> None:
    section = (ROOT / "README.md").read_text().split("## Public API", 1)[1].split("\n## ", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith(f"| `{package}` |"))
    documented = set(re.findall(r"`([A-Za-z_]+)`", line.split("|")[2]))
    assert documented == set(importlib.import_module(package).__all__)


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_the_package_loads_neither_prefect_nor_its_modules(package: str) -> None:
    # compiler.language.lazy_exports is the few-line helper both packages' __getattr__ comes from (its package's
    # __init__ is a docstring).
    helper = ("compiler.language", "compiler.language.lazy_exports")
    code = (f"import sys, {package}; print(sorted(m for m in sys.modules "
            f"if m.startswith(('prefect', '{package}.')) and m not in {helper!r}))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
