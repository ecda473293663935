"""The plan's comparison and its text/JSON forms, on hand-made states (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from compiler.commands.plan.desired import DesiredState
from compiler.commands.plan.diff import FieldChange, compute_plan, field_changes
from compiler.commands.plan.observed import ObservedState
from compiler.commands.plan.report import plan_json, plan_lines


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, [FieldChange("~", "a", 1, 2)]),
        ({"a": 1.0}, {"a": 1}, []),
        ({"a": 1 / 3600}, {"a": 0.0002777777777777778}, []),
        ({"a": True}, {"a": 1}, [FieldChange("~", "a", True, 1)]),
        ({}, {"a": {"b": 1}}, [FieldChange("+", "a", after={"b": 1})]),
        ({"a": 1}, {}, [FieldChange("-", "a", before=1)]),
        ({"m": {"x.y": 1}}, {"m": {"x.y": 2}}, [FieldChange("~", 'm["x.y"]', 1, 2)]),
        ({"s": [{"tz": "UTC"}]}, {"s": [{"tz": "Europe/Berlin"}]}, [FieldChange("~", "s[0].tz", "UTC", "Europe/Berlin")]),
        ({"s": [{"a": 1}]}, {"s": [{"a": 1}, {"b": 2}]}, [FieldChange("+", "s[1]", after={"b": 2})]),
        ({"s": [{"a": 1}, {"b": 2}]}, {"s": [{"a": 1}]}, [FieldChange("-", "s[1]", before={"b": 2})]),
        ({"t": ["a", "b"]}, {"t": ["a", "c"]}, [FieldChange("~", "t", ["a", "b"], ["a", "c"])]),
        ({"t": []}, {"t": ["x"]}, [FieldChange("~", "t", [], ["x"])]),
        ({"t": [1, 2]}, {"t": [1.0, 2.0]}, []),
    ],
)
def test_field_changes(before: Any, after: Any, expected: list[FieldChange]) -> None:
    assert field_changes(before, after) == expected


def _deployment(name: str, **fields: Any) -> dict[str, Any]:
    return {"entrypoint": f"flows/automations.py:{name}", "name": name, "tags": ["platform-god"], **fields}


def _states() -> tuple[DesiredState, ObservedState]:
    desired = DesiredState(
        work_pool="automations",
        deployments={"kept/kept": _deployment("kept", tz="Europe/Berlin"), "new/new": _deployment("new")},
        limits={"automation-cooldown-new": {"limit": 1, "slot_decay_per_second": 0.5}},
        automations={"zombie": {"name": "zombie", "enabled": True}},
    )
    observed = ObservedState(
        work_pool_type="process",
        deployments={"kept/kept": _deployment("kept", tz="UTC"), "gone/gone": _deployment("gone", triggers={})},
        ours={"kept/kept", "gone/gone"},
        limits={"automation-cooldown-gone": {"limit": 1, "slot_decay_per_second": 0.1}},
        automations={"zombie": [{"name": "zombie", "enabled": True, "trigger": {"type": "event"}, "actions": []}]},
    )
    return desired, observed


def _summary(plan: Any) -> list[tuple[str, str, str]]:
    return [(c.action, c.kind, c.name) for c in plan.changes]


def test_removals_are_left_over_without_prune() -> None:
    plan = compute_plan(*_states(), prune=False)
    assert ("change", "deployment", "kept/kept") in _summary(plan)
    assert ("add", "deployment", "new/new") in _summary(plan)
    assert ("add", "concurrency limit", "automation-cooldown-new") in _summary(plan)
    assert not [c for c in plan.changes if c.action == "remove"]
    assert [(c.kind, c.name) for c in plan.left_over] == [("deployment", "gone/gone"), ("concurrency limit", "automation-cooldown-gone")]


def test_prune_counts_removals() -> None:
    plan = compute_plan(*_states(), prune=True)
    assert plan.count("remove") == 2 and plan.left_over == []


def test_a_missing_work_pool_is_added() -> None:
    desired, observed = _states()
    observed.work_pool_type = None
    assert ("add", "work pool", "automations") in _summary(compute_plan(desired, observed, prune=False))


def test_a_deployment_someone_else_owns_is_never_removed() -> None:
    desired, observed = _states()
    observed.ours.discard("gone/gone")
    assert compute_plan(desired, observed, prune=True).count("remove") == 1  # only the limit


def test_text_names_every_field_change_and_the_counts() -> None:
    lines = plan_lines(compute_plan(*_states(), prune=True), "http://api", prune=True)
    assert '      ~ tz: "UTC" -> "Europe/Berlin"' in lines
    assert "  - deployment gone/gone  (flows/automations.py:gone)" in lines
    assert lines[-1] == "Plan: 2 to add, 2 to change, 2 to remove."


def test_no_changes_says_so() -> None:
    desired, _ = _states()
    observed = ObservedState(work_pool_type="process", deployments=dict(desired.deployments), limits=dict(desired.limits),
                             automations={"zombie": [{"name": "zombie", "trigger": {"type": "event"}, "actions": []}]})
    desired.automations = {}
    plan = compute_plan(desired, observed, prune=True)
    assert not plan.has_changes
    assert plan_lines(plan, "http://api", prune=True)[-1] == "No changes: the server matches the configuration."


def test_json_has_paths_before_and_after() -> None:
    data = plan_json(compute_plan(*_states(), prune=False), "http://api", prune=False)
    kept = next(c for c in data["changes"] if c["name"] == "kept/kept")
    assert kept["fields"] == [{"op": "~", "path": "tz", "before": "UTC", "after": "Europe/Berlin"}]
    assert data["summary"] == {"add": 2, "change": 2, "remove": 0}
    assert [c["name"] for c in data["left_over"]] == ["gone/gone", "automation-cooldown-gone"]
