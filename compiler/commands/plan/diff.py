"""Compare the desired and observed states: objects to add, change and remove, with field-level differences."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from compiler.commands.plan.desired import DesiredState
from compiler.commands.plan.observed import ObservedState
from compiler.commands.plan.shapes import automation_shape
from compiler.language.prefect_names import COOLDOWN_LIMIT_PREFIX, is_our_automation

__all__ = ["Change", "FieldChange", "Plan", "compute_plan", "field_changes", "key_path"]

Action = Literal["add", "change", "remove"]
_MISSING: Any = object()
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
WORK_POOL_TYPE = "process"


@dataclass(frozen=True)
class FieldChange:
    """One difference: ``op`` is ``+`` (only desired), ``-`` (only on the server) or ``~`` (both, different)."""

    op: Literal["+", "-", "~"]
    path: str
    before: Any = None
    after: Any = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op != "+":
            data["before"] = self.before
        if self.op != "-":
            data["after"] = self.after
        return data


@dataclass(frozen=True)
class Change:
    """One server object deploy would create (add), update (change) or delete (remove, only with --prune)."""

    action: Action
    kind: str  # work pool, deployment, concurrency limit, automation
    name: str
    fields: tuple[FieldChange, ...] = ()
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "kind": self.kind,
            "name": self.name,
            "detail": self.detail,
            "fields": [f.to_json() for f in self.fields],
        }


@dataclass
class Plan:
    """``changes`` are what deploy would do; ``left_over`` what only ``deploy --prune`` would delete (not counted without it)."""

    changes: list[Change] = field(default_factory=list)
    left_over: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)


def key_path(path: str, key: Any) -> str:
    """``path`` extended by a mapping key: ``a.b`` for names, ``a["x y"]`` otherwise."""
    if isinstance(key, str) and _IDENTIFIER.match(key):
        return f"{path}.{key}" if path else key
    return f'{path}["{key}"]' if isinstance(key, str) else f"{path}[{key!r}]"


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, bool) or isinstance(after, bool):
        return before is after
    if isinstance(before, int | float) and isinstance(after, int | float):
        # 1/3600 written by the build and read back from the database differ in the last digits.
        return math.isclose(before, after, rel_tol=1e-9, abs_tol=1e-12)
    return bool(before == after)


def field_changes(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Every difference between two JSON-like values, as paths like ``schedules[0].timezone``."""
    if before is _MISSING:
        return [FieldChange("+", path, after=after)]
    if after is _MISSING:
        return [FieldChange("-", path, before=before)]
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[FieldChange] = []
        for key in [*after, *(k for k in before if k not in after)]:
            found.extend(field_changes(before.get(key, _MISSING), after.get(key, _MISSING), key_path(path, key)))
        return found
    if isinstance(before, list) and isinstance(after, list) and not any(isinstance(v, dict | list) for v in (*before, *after)):
        # Tags, expected event names: one line with both lists reads better than a change per position.
        return [] if len(before) == len(after) and all(map(_same, before, after)) else [FieldChange("~", path, before, after)]
    if isinstance(before, list) and isinstance(after, list):
        found = []
        for index in range(max(len(before), len(after))):
            old = before[index] if index < len(before) else _MISSING
            new = after[index] if index < len(after) else _MISSING
            found.extend(field_changes(old, new, f"{path}[{index}]"))
        return found
    return [] if _same(before, after) else [FieldChange("~", path, before, after)]


def _added(kind: str, name: str, shape: dict[str, Any], detail: str = "") -> Change:
    return Change("add", kind, name, tuple(FieldChange("+", k, after=v) for k, v in shape.items()), detail)


def _compare(kind: str, name: str, before: dict[str, Any] | None, after: dict[str, Any], detail: str = "") -> Change | None:
    if before is None:
        return _added(kind, name, after, detail)
    fields = field_changes(before, after)
    return Change("change", kind, name, tuple(fields), detail) if fields else None


def _deployments(desired: DesiredState, observed: ObservedState, plan: Plan) -> None:
    unreadable = 0
    for key in sorted(desired.deployments):
        want = desired.deployments[key]
        have = observed.deployments.get(key)
        if have is not None and "definition" in want and "definition" not in have:
            want = {k: v for k, v in want.items() if k != "definition"}
            unreadable += 1
        change = _compare("deployment", key, have, want, want["entrypoint"])
        if change is not None:
            plan.changes.append(change)
    if unreadable:
        plan.notes.append(
            f"actions not compared for {unreadable} deployment(s): the folder their workers load definitions from "
            "is not readable here (a pull step other than set_working_directory, or another machine)"
        )
    expected = desired.expected
    for key in sorted(observed.ours):
        have = observed.deployments[key]
        if key in desired.deployments or (have["entrypoint"], have["name"]) in expected:
            continue
        triggers = len(have["triggers"])
        detail = have["entrypoint"] + (f"; with its {triggers} trigger automation(s)" if triggers else "")
        plan.left_over.append(Change("remove", "deployment", key, detail=detail))


def _limits(desired: DesiredState, observed: ObservedState, plan: Plan) -> None:
    for name in sorted(desired.limits):
        change = _compare("concurrency limit", name, observed.limits.get(name), desired.limits[name])
        if change is not None:
            plan.changes.append(change)
    for name in sorted(observed.limits):
        if name.startswith(COOLDOWN_LIMIT_PREFIX) and name not in desired.limits:
            plan.left_over.append(Change("remove", "concurrency limit", name))


def _automations(desired: DesiredState, observed: ObservedState, plan: Plan) -> None:
    for name in sorted(desired.automations):
        found = observed.automations.get(name, [])
        change = _compare("automation", name, automation_shape(found[0]) if found else None, desired.automations[name])
        if len(found) > 1:
            # deploy updates the first one and deletes the others.
            copies = FieldChange("~", "copies on the server", len(found), 1)
            change = Change("change", "automation", name, (*(change.fields if change else ()), copies))
        if change is not None:
            plan.changes.append(change)
    for name in sorted(observed.automations):
        if name not in desired.automations and any(is_our_automation(a) for a in observed.automations[name]):
            plan.left_over.append(Change("remove", "automation", name))


def compute_plan(desired: DesiredState, observed: ObservedState, *, prune: bool) -> Plan:
    """What deploy (with ``prune``: deploy --prune) would do to the observed server."""
    plan = Plan()
    if observed.work_pool_type is None:
        plan.changes.append(_added("work pool", desired.work_pool, {"type": WORK_POOL_TYPE}))
    elif observed.work_pool_type != WORK_POOL_TYPE:
        plan.notes.append(
            f"work pool '{desired.work_pool}' has type '{observed.work_pool_type}', not '{WORK_POOL_TYPE}' (deploy leaves it as it is)"
        )
    _deployments(desired, observed, plan)
    _limits(desired, observed, plan)
    _automations(desired, observed, plan)
    if prune:
        plan.changes.extend(plan.left_over)
        plan.left_over = []
    return plan
