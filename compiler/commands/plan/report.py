"""The plan as text (like ``terraform plan``) or JSON (for CI comments)."""

from __future__ import annotations

import json
from typing import Any

from compiler.commands.plan.diff import Change, FieldChange, Plan, key_path

__all__ = ["plan_json", "plan_lines"]

_SIGN = {"add": "+", "change": "~", "remove": "-"}
# Added objects list their fields; the flow's parameter schema and the compiled definition follow from the
# automation file under review and are long (the JSON output has them).
_QUIET_WHEN_ADDED = frozenset({"parameter_openapi_schema", "name", "definition"})


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)


def _field_line(change: FieldChange) -> str:
    if change.op == "+":
        return f"      + {change.path}: {_value(change.after)}"
    if change.op == "-":
        return f"      - {change.path}: {_value(change.before)}"
    return f"      ~ {change.path}: {_value(change.before)} -> {_value(change.after)}"


def _leaves(path: str, value: Any) -> list[FieldChange]:
    """An added value one line per leaf (mappings and lists of mappings opened up), like terraform's blocks."""
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(key_path(path, key), item)]
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return [leaf for index, item in enumerate(value) for leaf in _leaves(f"{path}[{index}]", item)]
    return [FieldChange("+", path, after=value)]


def _change_lines(change: Change) -> list[str]:
    head = f"  {_SIGN[change.action]} {change.kind} {change.name}" + (f"  ({change.detail})" if change.detail else "")
    if change.action != "add":
        return [head, *(_field_line(f) for f in change.fields)]
    fields = [f for f in change.fields if f.path not in _QUIET_WHEN_ADDED]
    return [head, *(_field_line(leaf) for f in fields for leaf in _leaves(f.path, f.after))]


def plan_lines(plan: Plan, api_url: str, *, prune: bool) -> list[str]:
    """Every change with its fields, then the left-over objects and the summary line."""
    lines = [f"Prefect API: {api_url}"]
    for note in plan.notes:
        lines.append(f"note: {note}")
    if plan.changes:
        lines.append("")
        for change in plan.changes:
            lines.extend(_change_lines(change))
    if plan.left_over:
        lines.append("")
        lines.append("Not produced by the configuration any more; `deploy --prune` would delete (not counted here):")
        lines.extend(f"  - {c.kind} {c.name}" + (f"  ({c.detail})" if c.detail else "") for c in plan.left_over)
    lines.append("")
    if not plan.has_changes:
        lines.append("No changes: the server matches the configuration." + ("" if prune else " (removals are shown with --prune)"))
    else:
        lines.append(f"Plan: {plan.count('add')} to add, {plan.count('change')} to change, {plan.count('remove')} to remove.")
    return lines


def plan_json(plan: Plan, api_url: str, *, prune: bool) -> dict[str, Any]:
    return {
        "api_url": api_url,
        "prune": prune,
        "changes": [c.to_json() for c in plan.changes],
        "left_over": [c.to_json() for c in plan.left_over],
        "notes": list(plan.notes),
        "summary": {"add": plan.count("add"), "change": plan.count("change"), "remove": plan.count("remove")},
    }
