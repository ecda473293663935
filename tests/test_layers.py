"""The three layers hold: import-linter's contracts in .importlinter pass, and every module is in a layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import ROOT


def _lint_imports() -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "lint-imports"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run([*command, "--no-cache", "--config", str(ROOT / ".importlinter")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_linter_contracts_are_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, f"import-linter found imports across the layers:\n{result.stdout}\n{result.stderr}"
    assert "3 kept, 0 broken" in result.stdout, result.stdout


def test_compiler_holds_only_its_layers() -> None:
    """A module belongs to a layer by its path: compiler/ holds the two layer packages and the launcher, nothing else."""
    entries = {p.name for p in (ROOT / "compiler").iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", "__main__.py", "language", "commands"}, sorted(entries)
