"""The documented public API of each package imports, and importing the package alone stays cheap."""

from __future__ import annotations

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
    exec(f"from {package} import *", namespace)  # noqa: S102 - the form users write
    assert sorted(n for n in namespace if not n.startswith("__")) == sorted(importlib.import_module(package).__all__)


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
