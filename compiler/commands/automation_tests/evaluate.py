"""Run one test case with the dry run's trigger, cooldown and action previews, and compare with its expectations."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from compiler.commands.automation_tests.loader import LoadedCase
from compiler.commands.dry_run.automation import FAILS, SKIPPED, UNKNOWN, ActionPreview, cooldown_verdict, preview_actions, trigger_verdict
from flows.engine.run_context import RunInputs, builtin_variables, missing_inputs, resolve_occurrence, template_variables

__all__ = ["RUN_ID", "CaseOutcome", "run_case", "subset_differences"]

RUN_ID = "test-run"  # what {run_id} renders to in a case


@dataclass(frozen=True)
class CaseOutcome:
    """A case's result: no failures means it passed."""

    case: LoadedCase
    failures: tuple[str, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _equal(expected: Any, actual: Any) -> bool:
    # JSON equality: true is not 1 and "1" is not 1, but 1 equals 1.0.
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(_equal(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(_equal(v, actual[k]) for k, v in expected.items())
    return type(expected) is type(actual) and expected == actual


def subset_differences(expected: Any, actual: Any, path: str) -> list[str]:
    """Where ``actual`` does not hold ``expected``: mappings are compared key by key (extra keys are fine),
    everything else must be equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a mapping, got {_show(actual)}"]
        found: list[str] = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing (expected {_show(value)})")
            else:
                found.extend(subset_differences(value, actual[key], f"{path}.{key}"))
        return found
    return [] if _equal(expected, actual) else [f"{path}: expected {_show(expected)}, got {_show(actual)}"]


def _parameter_failures(previews: dict[str, ActionPreview], expected: dict[str, dict[str, Any]]) -> list[str]:
    failures: list[str] = []
    for name, subset in expected.items():
        preview = previews[name]
        if preview.status == SKIPPED:
            failures.append(f"{name} is skipped ({preview.note}), so it receives no parameters")
        elif preview.status == UNKNOWN:
            failures.append(f"{name}: cannot render its parameters: {preview.note}; stub that output under when.outputs")
        elif preview.error is not None:
            failures.append(f"{name} fails before it starts: {preview.error}")
        else:
            failures.extend(subset_differences(subset, preview.parameters, f"{name}.parameters"))
    return failures


def run_case(item: LoadedCase) -> CaseOutcome:
    """Evaluate ``item`` as a run would go: trigger, cooldown, inputs, then each action in order."""
    clock = time.perf_counter()
    loaded, when, expect = item.loaded, item.case.when, item.case.expect
    automation = loaded.automation
    started = item.now or item.scheduled or datetime.now(UTC)
    verdict = trigger_verdict(loaded, event=when.event, metrics=when.metrics, scheduled=item.scheduled, now=started, check_id=RUN_ID)
    reasons = list(verdict.reasons)
    fires = verdict.fires
    run = RunInputs(inputs=when.params, event=verdict.event, condition=verdict.condition, scheduled_time=verdict.scheduled_time)
    if fires:
        blocked, why = cooldown_verdict(automation.trigger.cooldown_seconds, when.last_run_seconds_ago)
        reasons.append(why)
        missing = [] if blocked else missing_inputs(automation, loaded.inputs, run)
        if missing:
            reasons.append(f"missing input(s): {', '.join(missing)} (a run would be refused)")
        fires = not blocked and not missing
    joined = "; ".join(reasons)
    failures: list[str] = []
    if fires != expect.fires:
        failures.append(f"expected it {'to fire' if expect.fires else 'not to fire'}, but it {'fires' if fires else 'does not'}: {joined}")
    if expect.reason is not None and expect.reason not in joined:
        failures.append(f"reason does not contain {expect.reason!r}: {joined}")
    if expect.parameters or expect.skipped is not None:
        if not fires:
            failures.append("actions are expected, but no action runs: it does not fire")
        else:
            builtins = builtin_variables(automation, RUN_ID, started, resolve_occurrence(run, RUN_ID))

            def variables_for(outputs: dict[str, Any]) -> dict[str, Any]:
                return template_variables(automation, loaded.inputs, run, builtins, outputs)

            previews = {p.name: p for p in preview_actions(loaded, variables_for, outputs=when.outputs, failing=when.failing)}
            failures.extend(_parameter_failures(previews, expect.parameters))
            if expect.skipped is not None:
                skipped = sorted(n for n, p in previews.items() if p.status == SKIPPED)
                if skipped != sorted(expect.skipped):
                    stopped = [n for n, p in previews.items() if p.status == FAILS]
                    failures.append(f"skipped actions: expected {sorted(expect.skipped)}, got {skipped} (failing: {stopped or 'none'})")
    return CaseOutcome(item, tuple(failures), time.perf_counter() - clock)
