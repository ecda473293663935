"""The pipeline over a config folder: load → validate → check references, for every file, in one pass."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from compiler.language.config_files import (
    CONFIG_SUFFIXES,
    Findings,
    Report,
    config_files,
    named,
    read_document,
    reporter,
    root_is_mapping,
    validate_document,
)
from compiler.language.diagnostics import Diagnostic, did_you_mean
from compiler.language.model.automation import Automation, automation_model
from compiler.language.model.chains import ChainDefinition
from compiler.language.plugins import agent_names, registered_custom_actions
from compiler.language.project import beside
from compiler.language.references import check_references
from compiler.language.source import SourceDocument
from compiler.language.urls import HTTP_ALLOW_PRIVATE_SETTING, internal_address, is_metadata

__all__ = [
    "AUTOMATION_SUFFIXES",
    "Catalog",
    "LoadedAutomation",
    "LoadedChain",
    "chains_dir_for",
    "internal_error",
    "load_automation_data",
    "load_catalog",
    "load_chains",
]

AUTOMATION_SUFFIXES = CONFIG_SUFFIXES


@dataclass(frozen=True)
class LoadedAutomation:
    """A valid automation with where it came from and the inputs its templates need."""

    automation: Automation
    path: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class LoadedChain:
    chain: ChainDefinition
    path: str


@dataclass
class Catalog(Findings):
    """Everything found in a config folder: the valid automations and chains, and every diagnostic."""

    automations: dict[str, LoadedAutomation] = field(default_factory=dict)
    chains: dict[str, LoadedChain] = field(default_factory=dict)

    def get(self, name: str) -> LoadedAutomation:
        return named(self.automations, name, "automation")


def chains_dir_for(config_dir: Path) -> Path:
    """``configs/automations`` → ``configs/chains``."""
    return beside(config_dir, "chains")


def load_chains(chains_dir: Path) -> tuple[dict[str, LoadedChain], list[Diagnostic]]:
    chains: dict[str, LoadedChain] = {}
    diagnostics: list[Diagnostic] = []
    for path in config_files(chains_dir):
        try:
            loaded = _load_chain(path, chains, diagnostics)
        except Exception as exc:  # noqa: BLE001 - a crash in one file's checks must not hide the others
            diagnostics.append(internal_error(path, exc))
            continue
        if loaded is not None:
            chains[loaded.chain.name] = loaded
    return chains, diagnostics


def _load_chain(path: Path, chains: dict[str, LoadedChain], diagnostics: list[Diagnostic]) -> LoadedChain | None:
    doc = read_document(path, diagnostics)
    if doc is None or not root_is_mapping(doc, "name and steps", diagnostics):
        return None
    chain = validate_document(doc, ChainDefinition, diagnostics)
    if chain is None:
        return None
    if chain.name in chains:
        pos = doc.position_of(("name",))
        diagnostics.append(
            Diagnostic(doc.path, pos.line, pos.col, "name", f"chain '{chain.name}' is also defined in {chains[chain.name].path}")
        )
        return None
    return LoadedChain(chain, doc.path)


def internal_error(path: Path | str, exc: BaseException) -> Diagnostic:
    """A check that crashed, reported as this file's error (one line, no traceback)."""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return Diagnostic(
        str(path), 1, 1, "<file>",
        f"internal error while checking this file ({what}); the other files were checked; please report this",
    )


def load_catalog(
    config_dir: Path, paths: list[Path] | None = None, on_file: Callable[[int, int], None] | None = None
) -> Catalog:
    """Validate every automation file (or just ``paths``); one bad file never hides or blocks the others.

    ``on_file(done, total)`` is called after each file (a command's progress bar)."""
    catalog = Catalog()
    chains, chain_diagnostics = load_chains(chains_dir_for(config_dir))
    catalog.chains = chains
    catalog.diagnostics.extend(chain_diagnostics)
    # An explicit empty list means "no files" (the caller reports it), never "the default folder".
    files = [Path(p) for p in paths] if paths is not None else config_files(config_dir)
    model = automation_model()
    first_seen: dict[str, str] = {}
    for done, path in enumerate(files, 1):
        catalog.files.append(str(path))
        file_diagnostics: list[Diagnostic] = []
        try:
            loaded = _load_automation(path, model, chains, first_seen, file_diagnostics)
        except Exception as exc:  # noqa: BLE001 - a crash in one file's checks must not hide the others
            file_diagnostics.append(internal_error(path, exc))
            loaded = None
        catalog.diagnostics.extend(file_diagnostics)
        if loaded is not None and not any(d.severity == "error" for d in file_diagnostics):
            catalog.automations[loaded.automation.name] = loaded
        if on_file is not None:
            on_file(done, len(files))
    catalog.diagnostics.sort()
    return catalog


def load_automation_data(data: Any, config_dir: Path, label: str = "<data>.json") -> Catalog:
    """Validate an automation given as data (one registered from code) exactly like a file named ``label``
    (a ``.json`` name: the data is checked as its JSON text); chains come from ``config_dir``'s chains folder."""
    catalog = Catalog()
    chains, catalog.diagnostics = load_chains(chains_dir_for(config_dir))
    catalog.chains = chains
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str).encode()
    file_diagnostics: list[Diagnostic] = []
    loaded = _load_automation(Path(label), automation_model(), chains, {}, file_diagnostics, text)
    catalog.files.append(label)
    catalog.diagnostics.extend(file_diagnostics)
    if loaded is not None and not any(d.severity == "error" for d in file_diagnostics):
        catalog.automations[loaded.automation.name] = loaded
    catalog.diagnostics.sort()
    return catalog


def _load_automation(
    path: Path,
    model: type[BaseModel],
    chains: dict[str, LoadedChain],
    first_seen: dict[str, str],
    diagnostics: list[Diagnostic],
    text: bytes | None = None,
) -> LoadedAutomation | None:
    doc = read_document(path, diagnostics, text)
    if doc is None or not root_is_mapping(doc, "name, trigger and actions", diagnostics):
        return None
    automation: Any = validate_document(doc, model, diagnostics)
    trigger = doc.data.get("trigger")
    trigger_type = trigger.get("type") if isinstance(trigger, dict) else None
    references = check_references(doc, trigger_type if isinstance(trigger_type, str) else None)
    diagnostics.extend(references.diagnostics)
    if automation is None:
        return None
    diagnostics.extend(_semantic_checks(doc, automation, chains))
    name = automation.name
    if name in first_seen:
        pos = doc.position_of(("name",))
        diagnostics.append(
            Diagnostic(doc.path, pos.line, pos.col, "name", f"automation name '{name}' is already used by {first_seen[name]}; names must be unique")
        )
        return None
    first_seen[name] = doc.path
    return LoadedAutomation(automation, doc.path, references.inputs)


def _semantic_checks(doc: SourceDocument, automation: Automation, chains: dict[str, LoadedChain]) -> list[Diagnostic]:
    """Rules that span fields: unique action names, references to chains, agents and custom actions."""
    found: list[Diagnostic] = []
    report = reporter(doc, found)
    seen: dict[str, int] = {}
    for index, action in enumerate(automation.actions):
        if action.name in seen:
            report(("actions", index, "name"), f"action name '{action.name}' is already used by actions[{seen[action.name]}]; names must be unique")
        seen.setdefault(action.name, index)
        params = action.parameters
        chain = getattr(params, "referenced_chain", None)
        if chain is not None and chain not in chains:
            field_name = "chain_name" if getattr(params, "chain_name", None) else "chain"
            report(
                ("actions", index, "parameters", field_name),
                f"unknown chain '{chain}'{did_you_mean(chain, chains)} (chains in configs/chains/: {', '.join(sorted(chains)) or 'none'})",
            )
        agent = getattr(params, "agent_name", None) if action.type == "execute_agent" else None
        if agent is not None and "{" not in agent:
            problem = _unknown_agent(agent)
            if problem:
                # A warning, not an error: agents are plug-ins that may be installed only on the workers.
                report(("actions", index, "parameters", "agent_name"), problem, "warning")
        custom = getattr(params, "action_name", None) if action.type == "custom" else None
        if custom is not None:
            problem = _unknown_custom_action(custom)
            if problem:
                # A warning like an uninstalled agent: the plug-in may be installed only on the workers.
                report(("actions", index, "parameters", "action_name"), problem, "warning")
        for where, url in getattr(params, "urls", list)():
            _check_address(("actions", index, "parameters", *where), url, report)
    trigger = automation.trigger
    if trigger.type == "condition" and trigger.condition.source.url is not None:
        _check_address(("trigger", "condition", "source", "url"), trigger.condition.source.url, report)
    return found


def _check_address(loc: tuple[str | int, ...], url: str, report: Report) -> None:
    """A literal internal address is refused at run time: metadata always (an error), others unless allowed."""
    found = internal_address(url)
    if found is None:
        return
    host, reason = found
    article = "an" if reason[0] in "aeiou" else "a"
    if is_metadata(reason):
        report(loc, f"{host} is {article} {reason} address: always refused at run time")
    elif not _private_addresses_allowed():
        report(
            loc,
            f"{host} is {article} {reason} address: refused at run time unless {HTTP_ALLOW_PRIVATE_SETTING}=true "
            "is set where the automation runs",
            "warning",
        )


def _private_addresses_allowed() -> bool:
    """The setting as this process sees it: a machine that allows private addresses gets no warning."""
    # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); validate loads this module without needing it
    from compiler.language.settings import get_settings

    try:
        return bool(get_settings().http_allow_private)
    except ValueError:  # an invalid setting is reported where the runtime reads it
        return False


def _unknown_custom_action(name: str) -> str | None:
    known = sorted(registered_custom_actions())
    if name in known:
        return None
    listed = ", ".join(known) if known else "none"
    return (
        f"custom action '{name}' is not registered here{did_you_mean(name, known)} (registered: {listed}; register one with "
        "register_custom_action() or the entry point group platform_god.actions)"
    )


@lru_cache(maxsize=1)
def _installed_agents() -> tuple[str, ...]:
    """Read entry points once per process: validating 1,000 files must not scan them 1,000 times."""
    return agent_names()


def _unknown_agent(name: str) -> str | None:
    known = _installed_agents()
    if name in known:
        return None
    return f"agent '{name}' is not installed here{did_you_mean(name, known)} (installed: {', '.join(known)})"
