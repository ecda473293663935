"""Test files are checked like automation files: ``line:col: field: message`` for every problem, in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compiler.commands.automation_tests.support import suite_of

HEALTH = "automation: health_alert\ncases:\n"
HEALTH_ACTIONS = "(actions of health_alert: alert_team, record_alert)"

INVALID = [
    pytest.param("cases: []\n", ["1:8: cases: must not be empty (at least 1)"], id="no-cases"),
    pytest.param("- a\n", ["1:1: <root>: expected a mapping with cases (and automation), got list"], id="not-a-mapping"),
    pytest.param(
        HEALTH + "  - name: x\n    when: {metrics: {}, evnt: {}}\n",
        ["4:25: cases[0].when.evnt: unknown field 'evnt'; "
         "allowed: event, metrics, scheduled_time, now, params, outputs, failing, last_run_seconds_ago"],
        id="unknown-field",
    ),
    pytest.param(
        HEALTH + "  - name: x\n    when: {metrics: {}}\n    expect: {fires: 'no'}\n",
        ["5:21: cases[0].expect.fires: expected true or false, got string 'no'"],
        id="fires-not-boolean",
    ),
    pytest.param(
        "cases:\n  - name: x\n    automation: helth_alert\n    when: {metrics: {}}\n",
        ["3:17: cases[0].automation: no automation named 'helth_alert'; did you mean 'health_alert'? "
         "(known: chain_completion_notification, daily_security_scan, health_alert, record_push); "
         "only valid automations can be tested (run validate)"],
        id="unknown-automation",
    ),
    pytest.param(
        "cases:\n  - name: x\n    when: {metrics: {}}\n",
        ["2:5: cases[0]: no automation: give 'automation' in the case or at the top of the file"],
        id="no-automation",
    ),
    pytest.param(
        HEALTH + "  - name: x\n    when:\n      metrics: {}\n      outputs: {alert_teem: 1}\n      failing: [recrod_alert]\n"
        "    expect:\n      parameters: {nope: {}}\n      skipped: [alert_team, x]\n",
        [
            f"6:17: cases[0].when.outputs.alert_teem: unknown action 'alert_teem'; did you mean 'alert_team'? {HEALTH_ACTIONS}",
            f"7:17: cases[0].when.failing[0]: unknown action 'recrod_alert'; did you mean 'record_alert'? {HEALTH_ACTIONS}",
            f"9:20: cases[0].expect.parameters.nope: unknown action 'nope' {HEALTH_ACTIONS}",
            f"10:29: cases[0].expect.skipped[1]: unknown action 'x' {HEALTH_ACTIONS}",
        ],
        id="unknown-actions",
    ),
    pytest.param(
        HEALTH + "  - name: x\n    when:\n      event: {event_type: custom, custom_type: y}\n",
        [
            "5:7: cases[0].when: health_alert has a condition trigger: give when.metrics",
            "5:7: cases[0].when.event: health_alert has a condition trigger, which uses when.metrics, not event",
        ],
        id="wrong-trigger-data",
    ),
    pytest.param(
        "automation: chain_completion_notification\ncases:\n  - name: x\n    when:\n      event: {event_type: chain_complete}\n",
        ["5:14: cases[0].when.event: this event_type needs the filter chain_name (or payload.chain_name) to name its resource"],
        id="event-without-its-resource",
    ),
    pytest.param(
        "automation: daily_security_scan\ncases:\n  - name: x\n    when: {scheduled_time: tomorrow, now: '2025-13-01T00:00:00'}\n",
        [
            "4:28: cases[0].when.scheduled_time: 'tomorrow' is not an ISO 8601 time such as 2025-01-15T02:00:00Z",
            "4:43: cases[0].when.now: '2025-13-01T00:00:00' is not an ISO 8601 time such as 2025-01-15T02:00:00Z",
        ],
        id="bad-times",
    ),
    pytest.param("cases:\n  - name: x\n\tautomation: y\n", ["3:1: <file>"], id="yaml-error"),
]


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_invalid_files_are_located(tmp_path: Path, text: str, expected: list[str]) -> None:
    suite, path = suite_of(tmp_path, text)
    lines = [str(d).removeprefix(f"{path}:") for d in suite.diagnostics]
    if expected == ["3:1: <file>"]:
        assert lines and lines[0].startswith("3:1: <file>")  # the loader's own YAML message
    else:
        assert lines == expected
    assert suite.cases == []


def test_a_file_level_automation_error_is_reported_once(tmp_path: Path) -> None:
    suite, _ = suite_of(tmp_path, "automation: nope\ncases:\n  - name: a\n  - name: b\n")
    assert len(suite.diagnostics) == 1 and suite.diagnostics[0].line == 1


def test_a_bad_case_never_stops_the_good_ones(tmp_path: Path) -> None:
    suite, path = suite_of(tmp_path, HEALTH + "  - name: bad\n    when: {}\n  - name: good\n    when: {metrics: {}}\n")
    assert [(c.name, c.line, c.path) for c in suite.cases] == [("good", 5, str(path))]
    assert len(suite.errors) == 1


def test_naive_times_are_in_the_triggers_timezone(tmp_path: Path) -> None:
    text = "automation: daily_security_scan\ncases:\n  - name: x\n    when: {scheduled_time: '2025-01-15T02:00:00'}\n"
    suite, _ = suite_of(tmp_path, text)
    assert suite.cases[0].scheduled is not None and suite.cases[0].scheduled.utcoffset().total_seconds() == 0  # UTC automation
