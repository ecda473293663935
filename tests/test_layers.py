"""The three layers hold: import-linter's contracts in .importlinter pass, and every module is in a layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports() -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "lint-imports"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*command, "--no-cache", "--config", str(ROOT / ".importlinter")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_linter_contracts_are_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, f"import-linter found imports across the layers:\n{result.stdout}\n{result.stderr}"
    assert "3 kept, 0 broken" in result.stdout, result.stdout


def _layer_modules() -> set[str]:
    from importlinter.api import read_configuration

    contracts = read_configuration(str(ROOT / ".importlinter"))["contracts_options"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    lines = layers if isinstance(layers, list) else layers.split("\n")
    return {name.strip() for line in lines for name in line.replace("|", ":").split(":") if name.strip()}


def _top_modules(package: str) -> set[str]:
    """``package.x`` for every module file and subpackage directly in the package (its __init__ aside)."""
    folder = ROOT / package
    found = {f"{package}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"}
    found |= {f"{package}.{p.name}" for p in folder.iterdir() if (p / "__init__.py").is_file()}
    return found


def test_every_module_of_the_compiler_is_in_a_layer() -> None:
    unplaced = sorted(_top_modules("compiler") - _layer_modules())
    assert not unplaced, f"put these modules into the language or the commands layer in .importlinter: {unplaced}"
