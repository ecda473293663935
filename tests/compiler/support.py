"""Helpers shared by the compiler tests: a throw-away config folder and diagnostics as plain text."""

from __future__ import annotations

import shutil
from pathlib import Path

from compiler.language.catalog import Catalog, load_catalog

__all__ = ["EXAMPLES", "ROOT", "lines_for", "make_config_dir", "validate_text"]

from tests import ROOT

EXAMPLES = ROOT / "configs" / "automations"


def make_config_dir(base: Path) -> Path:
    """``base/automations`` next to ``base/chains`` holding a copy of the example chains."""
    automations = base / "automations"
    automations.mkdir(parents=True)
    shutil.copytree(ROOT / "configs" / "chains", base / "chains")
    return automations


def lines_for(catalog: Catalog, path: Path) -> list[str]:
    """The diagnostics of one file as ``line:col: field: message`` (the path prefix dropped)."""
    prefix = f"{path}:"
    return [str(d).removeprefix(prefix) for d in catalog.diagnostics if d.path == str(path)]


def validate_text(base: Path, content: str | bytes, name: str = "automation.yaml") -> tuple[Catalog, Path]:
    """Write one automation file into a fresh config folder and validate the folder."""
    automations = make_config_dir(base)
    path = automations / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return load_catalog(automations), path
