"""Template references: which names each automation uses, which are inputs, and which can never resolve."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from compiler.language.config_files import reporter
from compiler.language.diagnostics import Diagnostic, did_you_mean
from compiler.language.source import SourceDocument
from compiler.language.templates import Placeholder, iter_placeholders

__all__ = ["BUILTIN_VARIABLES", "OUTPUTS_NAMESPACE", "TRIGGER_NAMESPACES", "ReferenceReport", "check_references"]

# Names every run defines (see flows/engine/run_context.py, which builds them).
BUILTIN_VARIABLES: dict[str, str] = {
    "timestamp": "UTC start time, file-name safe: 20260101T020000Z",
    "date": "UTC date of the run: 2026-01-01",
    "time": "UTC time of the run: 02:00:00",
    "datetime": "UTC start time, ISO 8601",
    "run_id": "Prefect flow run id",
    "automation_name": "name of the automation",
    "automation_version": "version of the automation",
    "trigger_type": "event, time, condition or manual",
    "occurrence": "what this run answers: event id, scheduled time or manual key",
}
# Data the trigger supplies, by trigger type.
TRIGGER_NAMESPACES: dict[str, str] = {"event": "event", "schedule": "time", "condition": "condition"}
OUTPUTS_NAMESPACE = "outputs"


@dataclass(frozen=True)
class ReferenceReport:
    """Inputs (names only a caller can supply) and the diagnostics found."""

    inputs: tuple[str, ...]
    diagnostics: tuple[Diagnostic, ...]


def _template_sites(data: dict[str, Any]) -> Iterable[tuple[tuple[str | int, ...], Any, int]]:
    """(location, value, index of the action it belongs to) for every templated place in a raw document."""
    actions = data.get("actions")
    if not isinstance(actions, list):
        return
    for index, action in enumerate(actions):
        if not isinstance(action, dict):
            continue
        if "parameters" in action:
            yield ("actions", index, "parameters"), action["parameters"], index
        idem = action.get("idempotency")
        if isinstance(idem, dict) and isinstance(idem.get("key"), str):
            yield ("actions", index, "idempotency", "key"), idem["key"], index


def check_references(doc: SourceDocument, trigger_type: str | None) -> ReferenceReport:
    """Check every template in the raw document: syntax always; names when the document is a mapping."""
    data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
    raw_context, raw_actions = data.get("context"), data.get("actions")
    context: dict[str, Any] = raw_context if isinstance(raw_context, dict) else {}
    actions: list[Any] = raw_actions if isinstance(raw_actions, list) else []
    action_names = [a["name"] for a in actions if isinstance(a, dict) and isinstance(a.get("name"), str)]
    diagnostics: list[Diagnostic] = []
    inputs: dict[str, tuple[str | int, ...]] = {}

    report = reporter(doc, diagnostics)
    for key in context:
        if key in BUILTIN_VARIABLES or key in TRIGGER_NAMESPACES or key == OUTPUTS_NAMESPACE:
            report(("context", key), f"context key '{key}' shadows a built-in variable; choose another name")

    for base, value, index in _template_sites(data):
        for loc, ph in iter_placeholders(value, at=base, report_syntax=report):
            problem = _check_one(ph, index, action_names, trigger_type, context)
            if problem:
                report(loc, problem)
            elif _is_input(ph, context):
                inputs.setdefault(ph.path[0], loc)

    if trigger_type in ("time", "condition"):
        for name, loc in inputs.items():
            report(
                loc,
                f"input '{name}' has no default and a {trigger_type} trigger cannot supply it: "
                f"scheduled runs will be refused; add '{name}' under context:",
                "warning",
            )
    return ReferenceReport(tuple(sorted(inputs)), tuple(diagnostics))


def _is_input(ph: Placeholder, context: dict[str, Any]) -> bool:
    if ph.secret is not None:
        return False
    head = ph.path[0]
    return not (
        head in BUILTIN_VARIABLES or head in TRIGGER_NAMESPACES or head == OUTPUTS_NAMESPACE or head in context
    )


def _check_one(
    ph: Placeholder, index: int, action_names: list[str], trigger_type: str | None, context: dict[str, Any]
) -> str | None:
    if ph.secret is not None:
        return None
    head = ph.path[0]
    if head in TRIGGER_NAMESPACES:
        wanted = TRIGGER_NAMESPACES[head]
        if trigger_type is not None and trigger_type != wanted:
            article = "an" if trigger_type[0] in "aeiou" else "a"  # "an event trigger", "a time trigger"
            return f"'{{{ph.reference}}}' is only defined for {wanted} triggers; this automation has {article} {trigger_type} trigger"
        return None
    if head == OUTPUTS_NAMESPACE:
        if len(ph.path) < 2:
            return f"'{{{ph.reference}}}' needs an action name: {{outputs.ACTION_NAME}} or {{outputs.ACTION_NAME.key}}"
        target = ph.path[1]
        if target not in action_names:
            return f"'{{{ph.reference}}}' refers to unknown action '{target}'{did_you_mean(target, action_names[:index])}"
        if action_names.index(target) >= index:
            earlier = action_names[:index]
            return (
                f"'{{{ph.reference}}}' refers to action '{target}', which runs at or after this one; "
                f"only earlier actions have outputs ({', '.join(earlier) or 'none'})"
            )
        return None
    if head in BUILTIN_VARIABLES or head in context:
        if head in BUILTIN_VARIABLES and len(ph.path) > 1:
            return f"'{{{ph.reference}}}': built-in '{head}' is a plain value with no keys"
        return None
    close = difflib.get_close_matches(head, [*BUILTIN_VARIABLES, *context], n=1, cutoff=0.85)
    if close:
        # A near-miss of a known name is almost always a typo, not a new input.
        return f"unknown variable '{head}'; did you mean '{close[0]}'? (or add '{head}' under context:)"
    return None
