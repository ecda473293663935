"""The missed-schedule policy: which late scheduled runs are skipped, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.engine.admission import cooldown_limit_name, missed_run_reason

SCHEDULED = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)

# (policy, grace, seconds late, a newer due run exists?, expected reason fragment or None = runs)
CASES = [
    ("all", 60, 10, False, None),
    ("all", 60, 86_400, True, None),
    ("none", 60, 10, False, None),
    ("none", 60, 60, False, None),
    ("none", 60, 61, False, "missed: started 61s after its scheduled time"),
    ("last", 60, 10, True, None),
    ("last", 60, 3_600, False, None),
    ("last", 60, 3_600, True, "superseded by the newer scheduled run"),
]


@pytest.mark.parametrize(("policy", "grace", "late", "newer", "expected"), CASES)
def test_missed_run_policy(policy: str, grace: int, late: int, newer: bool, expected: str | None) -> None:
    now = SCHEDULED + timedelta(seconds=late)
    newer_due = SCHEDULED + timedelta(days=1) if newer else None
    reason = missed_run_reason(policy, grace, SCHEDULED, now, newer_due)
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def test_cooldown_limit_name_is_per_automation() -> None:
    assert cooldown_limit_name("health_alert") == "automation-cooldown-health_alert"
