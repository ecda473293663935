"""Find automations at run time: compiled definitions in ``deployments/definitions`` first, else the YAML folder."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from compiler.language.catalog import Catalog, LoadedAutomation, LoadedChain, load_catalog, load_chains
from compiler.language.model.automation import automation_model
from compiler.language.settings import get_settings

__all__ = ["DEFINITIONS_DIR", "automation_names", "catalog", "chain_definitions", "load_automation"]

DEFINITIONS_DIR = Path("deployments/definitions")


def _automations_dir() -> Path:
    return get_settings().config_dir / "automations"


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The YAML folder, validated once per process; invalid files are left out (their errors are kept)."""
    return load_catalog(_automations_dir())


def _compiled(name: str) -> LoadedAutomation | None:
    path = DEFINITIONS_DIR / f"{name}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    inputs = tuple(data.pop("inputs", ()))
    # Compiled files hold JSON types; validate in lax-JSON mode so floats written as 300.0 stay valid.
    automation = automation_model().model_validate_json(json.dumps(data))
    # automation_model() builds the model that type checkers know as Automation (a static view of it).
    return LoadedAutomation(automation, str(path), inputs)  # type: ignore[arg-type]


def load_automation(name: str) -> LoadedAutomation:
    """The automation called ``name``; KeyError with a did-you-mean hint when there is none."""
    compiled = _compiled(name)
    if compiled is not None:
        return compiled
    return catalog().get(name)


def automation_names() -> list[str]:
    names = {p.stem for p in DEFINITIONS_DIR.glob("*.json")} if DEFINITIONS_DIR.is_dir() else set()
    return sorted(names | set(catalog().automations))


def chain_definitions() -> dict[str, LoadedChain]:
    chains, _ = load_chains(get_settings().config_dir / "chains")
    return chains
