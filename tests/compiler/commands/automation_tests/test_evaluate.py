"""Running cases: the trigger, cooldown, inputs and each action as a run would see them, against expectations."""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.commands.automation_tests.evaluate import run_case, subset_differences
from tests.compiler.commands.automation_tests.support import suite_of

CHAIN_EVENT = (
    "event: {event_type: chain_complete, chain_name: full_analysis, "
    "payload: {chain_name: full_analysis, status: completed, completed_steps: 2, total_steps: 3, execution_time_ms: 5}}"
)

# (automation, `when` mapping, `expect` mapping, failures the case must report: [] = it passes)
CASES = [
    pytest.param("chain_completion_notification", "{" + CHAIN_EVENT + "}", "{reason: matches every filter}", [], id="event-fires"),
    pytest.param(
        "chain_completion_notification", "{" + CHAIN_EVENT + "}",
        "{parameters: {notify_team: {message: 'Chain full_analysis completed: 2/3 steps in 5 ms'}, record_completion: {data: {total_steps: 3}}}}",
        [], id="event-parameters",
    ),
    pytest.param(
        "chain_completion_notification", "{event: {event_type: chain_complete, chain_name: other}}", "{}",
        ["expected it to fire, but it does not: platform-god.chain-name is 'other', the trigger needs 'full_analysis'"],
        id="event-does-not-match",
    ),
    pytest.param(
        "chain_completion_notification", "{" + CHAIN_EVENT + ", last_run_seconds_ago: 3599}",
        "{fires: false, reason: 'in cooldown: the last run started 3599s ago'}", [], id="cooldown-blocks",
    ),
    pytest.param(
        "chain_completion_notification", "{" + CHAIN_EVENT + ", last_run_seconds_ago: 3600}", "{reason: not in cooldown}", [], id="cooldown-over",
    ),
    pytest.param(
        "chain_completion_notification", "{" + CHAIN_EVENT + "}", "{parameters: {record_completion: {entity_id: other, data: {status: done}}}}",
        ['record_completion.parameters.entity_id: expected "other", got "full_analysis"',
         'record_completion.parameters.data.status: expected "done", got "completed"'],
        id="parameters-differ",
    ),
    pytest.param(
        "chain_completion_notification", "{event: {event_type: chain_complete, chain_name: full_analysis}}",
        "{parameters: {notify_team: {level: info}}, skipped: []}",
        ["notify_team fails before it starts: template variable '{event.payload.chain_name}' is not defined "
         "('event.payload.chain_name' is missing)"],
        id="template-error-fails-the-action",
    ),
    pytest.param(
        "daily_security_scan", "{scheduled_time: '2025-03-30T02:00:00+02:00', outputs: {security_scan: {summary: ok}}}",
        "{parameters: {notify_team: {message: 'Security scan of .: ok'}, save_report: {filename: security/scan_2025-03-30.json}}}",
        ["expected it to fire, but it does not: cron '0 2 * * *' (UTC) does not fire at 2025-03-30T00:00:00+00:00; "
         "its next run is at 2025-03-30T02:00:00+00:00",
         "actions are expected, but no action runs: it does not fire"],
        id="cron-in-another-offset",
    ),
    pytest.param(
        "daily_security_scan", "{scheduled_time: '2025-01-15T02:00:00Z', now: '2025-01-15T03:00:01Z'}", "{fires: false, reason: 'grace 3600s'}",
        ["expected it not to fire, but it fires: cron '0 2 * * *' (UTC) fires at 2025-01-15T02:00:00+00:00, started 3601s late "
         "(policy last, grace 3600s); not in cooldown (82800s; no earlier run)"],
        id="late-but-newest-runs",
    ),
    pytest.param("daily_security_scan", "{scheduled_time: '2025-01-15T02:00:00Z'}", "{parameters: {notify_team: {}}}",
                 ["notify_team: cannot render its parameters: uses {outputs.security_scan.summary}, known only after the earlier "
                  "action runs; stub that output under when.outputs"], id="output-not-stubbed"),
    pytest.param("daily_security_scan", "{scheduled_time: '2025-01-15T02:00:00Z', failing: [security_scan]}", "{skipped: [save_report]}",
                 ["skipped actions: expected ['save_report'], got ['notify_team', 'save_report'] (failing: ['security_scan'])"],
                 id="skipped-differ"),
    pytest.param("daily_security_scan", "{scheduled_time: '2025-01-15T02:00:00Z', failing: [save_report]}", "{skipped: []}",
                 [], id="continue-on-failure-skips-nothing"),
    pytest.param("daily_security_scan", "{scheduled_time: '2025-01-15T02:00:00Z', failing: [security_scan]}",
                 "{parameters: {notify_team: {level: info}}}",
                 ["notify_team is skipped (not run: action 'security_scan' failed and has continue_on_failure: false), so it receives no parameters"],
                 id="parameters-of-a-skipped-action"),
    pytest.param("health_alert", "{metrics: {metrics: {health_score: 49.5}}, now: '2025-01-15T09:00:00Z'}",
                 "{parameters: {record_alert: {data: {health_score: 49.5, raised_at: '2025-01-15T09:00:00+00:00', run_id: test-run}}}}",
                 [], id="condition-builtins"),
    pytest.param("health_alert", "{metrics: {metrics: {health_score: 50}}}", "{fires: false, reason: does not hold}", [], id="condition-boundary"),
    pytest.param("health_alert", "{metrics: {metrics: {health_score: 1}}}", "{parameters: {alert_team: {retry: 1}}}",
                 ["alert_team.parameters.retry: missing (expected 1)"], id="unknown-parameter-key"),
]


@pytest.mark.parametrize(("automation", "when", "expect", "failures"), CASES)
def test_case_outcome(tmp_path: Path, automation: str, when: str, expect: str, failures: list[str]) -> None:
    text = f"automation: {automation}\ncases:\n  - name: the case\n    when: {when}\n    expect: {expect}\n"
    suite, _ = suite_of(tmp_path, text)
    assert suite.diagnostics == [], suite.diagnostics
    (outcome,) = [run_case(case) for case in suite.cases]
    assert list(outcome.failures) == failures


GREETER = """\
name: greeter
trigger: {type: event, event: {event_type: custom, custom_type: hello}}
actions:
  - {type: log_message, name: say, parameters: {message: "hello {who}"}}
"""


@pytest.mark.parametrize(
    ("when", "fires", "reason"),
    [
        ("{event: {event_type: custom, custom_type: hello}}", False, "missing input(s): who (a run would be refused)"),
        ("{event: {event_type: custom, custom_type: hello}, params: {who: ann}}", True, "matches every filter"),
        ("{event: {event_type: custom, custom_type: hello, payload: {who: bob}}}", True, "matches every filter"),
    ],
)
def test_inputs_come_from_params_or_the_payload(tmp_path: Path, when: str, fires: bool, reason: str) -> None:
    from compiler.commands.automation_tests.loader import load_tests
    from compiler.language.catalog import load_catalog
    from tests.compiler.support import make_config_dir

    config = make_config_dir(tmp_path / "configs")
    (config / "greeter.yaml").write_text(GREETER, encoding="utf-8")
    cases = tmp_path / "cases.yaml"
    expect = f"{{fires: {str(fires).lower()}, reason: '{reason}'}}"
    cases.write_text(f"automation: greeter\ncases:\n  - name: x\n    when: {when}\n    expect: {expect}\n", encoding="utf-8")
    (case,) = load_tests([cases], load_catalog(config)).cases
    assert run_case(case).failures == ()


@pytest.mark.parametrize(
    ("expected", "actual", "differences"),
    [
        ({"a": 1}, {"a": 1, "b": 2}, []),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}, []),
        ({"a": [1, 2]}, {"a": [1, 2, 3]}, ["p.a: expected [1, 2], got [1, 2, 3]"]),
        ({"a": 1}, {"a": 1.0}, []),
        ({"a": 1}, {"a": True}, ["p.a: expected 1, got true"]),
        ({"a": "1"}, {"a": 1}, ['p.a: expected "1", got 1']),
        ({"a": {"b": 1}}, {"a": "x"}, ['p.a: expected a mapping, got "x"']),
    ],
)
def test_parameters_are_a_subset(expected: dict, actual: dict, differences: list[str]) -> None:
    assert subset_differences(expected, actual, "p") == differences
