"""Template references: which names are inputs, and which references can never resolve (with where)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compiler.language.references import ReferenceReport, check_references
from compiler.language.source import load_source


def report_for(tmp_path: Path, text: str, trigger_type: str | None = "event") -> ReferenceReport:
    path = tmp_path / "automation.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return check_references(load_source(path), trigger_type)


def lines(report: ReferenceReport) -> list[str]:
    return [f"{d.line}:{d.col}: {d.field}: {d.severity}: {d.message}" for d in report.diagnostics]


def one_message(tmp_path: Path, template: str, trigger_type: str | None = "event", context: str = "{}") -> list[str]:
    """Messages for one template used in the second of two actions (so one earlier action exists)."""
    report = report_for(tmp_path, f"""
        context: {context}
        actions:
          - {{type: log_message, name: first, parameters: {{message: hi}}}}
          - {{type: log_message, name: second, parameters: {{message: "{template}"}}}}
          - {{type: log_message, name: third, parameters: {{message: bye}}}}
    """, trigger_type)
    return [d.message for d in report.diagnostics]


def test_inputs_are_the_names_nothing_else_defines(tmp_path: Path) -> None:
    report = report_for(tmp_path, """
        context: {repository_root: "."}
        actions:
          - type: http_request
            name: call
            parameters:
              url: "https://{host}/{repository_root}/{date}"
              headers: {Authorization: "{secret:token}"}
              json: {who: "{team.lead}", when: "{timestamp}", again: "{host}"}
            idempotency: {key: "{deploy_id}"}
          - type: log_message
            name: say
            parameters: {message: "{outputs.call.status} {event.payload.x} {channel}"}
    """)
    assert report.inputs == ("channel", "deploy_id", "host", "team")


def only_for(reference: str, wanted: str, actual: str) -> list[str]:
    article = "an" if actual == "event" else "a"
    return [f"'{reference}' is only defined for {wanted} triggers; this automation has {article} {actual} trigger"]


@pytest.mark.parametrize(
    ("template", "trigger_type", "expected"),
    [
        ("{event.payload.id}", "event", []),
        ("{event.payload.id}", "time", only_for("{event.payload.id}", "event", "time")),
        ("{event.payload.id}", "condition", only_for("{event.payload.id}", "event", "condition")),
        ("{schedule.scheduled_time}", "time", []),
        ("{schedule.scheduled_time}", "event", only_for("{schedule.scheduled_time}", "time", "event")),
        ("{condition.value}", "condition", []),
        ("{condition.value}", "time", only_for("{condition.value}", "condition", "time")),
        ("{event.payload.id}", None, []),  # trigger itself invalid: reported by validation, not twice here
    ],
    ids=str,
)
def test_trigger_data_only_in_its_own_trigger_type(
    tmp_path: Path, template: str, trigger_type: str | None, expected: list[str]
) -> None:
    assert one_message(tmp_path, template, trigger_type) == expected


def runs_later(reference: str, target: str) -> list[str]:
    return [
        f"'{reference}' refers to action '{target}', which runs at or after this one;"
        " only earlier actions have outputs (first)"
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{outputs.first.message}", []),
        ("{outputs.first}", []),
        ("{outputs.frist.x}", ["'{outputs.frist.x}' refers to unknown action 'frist'; did you mean 'first'?"]),
        ("{outputs.nothing_like_it}", ["'{outputs.nothing_like_it}' refers to unknown action 'nothing_like_it'"]),
        ("{outputs.third.message}", runs_later("{outputs.third.message}", "third")),
        ("{outputs.second.message}", runs_later("{outputs.second.message}", "second")),
        ("{outputs}", ["'{outputs}' needs an action name: {outputs.ACTION_NAME} or {outputs.ACTION_NAME.key}"]),
    ],
    ids=str,
)
def test_outputs_of_earlier_actions_only(tmp_path: Path, template: str, expected: list[str]) -> None:
    assert one_message(tmp_path, template) == expected


def test_did_you_mean_only_suggests_earlier_actions(tmp_path: Path) -> None:
    # 'thrid' is close to 'third', but third runs later: suggesting it would lead to the next error.
    assert one_message(tmp_path, "{outputs.thrid.x}") == ["'{outputs.thrid.x}' refers to unknown action 'thrid'"]


def typo(name: str, meant: str) -> list[str]:
    return [f"unknown variable '{name}'; did you mean '{meant}'? (or add '{name}' under context:)"]


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        ("{timestmp}", "{}", typo("timestmp", "timestamp")),
        ("{repository_rot}", "{repository_root: .}", typo("repository_rot", "repository_root")),
        ("{service}", "{}", []),  # far from every known name: a new input, not a typo
        ("{date.year}", "{}", ["'{date.year}': built-in 'date' is a plain value with no keys"]),
        ("{settings.level}", "{settings: {level: 1}}", []),
        ("{secret:api_token}", "{}", []),
    ],
    ids=str,
)
def test_unknown_names(tmp_path: Path, template: str, context: str, expected: list[str]) -> None:
    assert one_message(tmp_path, template, context=context) == expected


@pytest.mark.parametrize("key", ["run_id", "timestamp", "event", "schedule", "condition", "outputs"])
def test_context_may_not_shadow_builtins(tmp_path: Path, key: str) -> None:
    report = report_for(tmp_path, f"""
        context: {{{key}: x}}
        actions:
          - {{type: log_message, name: say, parameters: {{message: hi}}}}
    """)
    assert lines(report) == [
        f"1:{13 + len(key)}: context.{key}: error: context key '{key}' shadows a built-in variable; choose another name"
    ]


INPUT_AUTOMATION = """
    context: {CONTEXT}
    actions:
      - type: execute_agent
        name: scan
        parameters:
          agent_name: PG_SECURITY_SCAN
          repository_root: "{repository_root}"
"""


@pytest.mark.parametrize("trigger_type", ["time", "condition"])
def test_input_without_default_is_a_warning_for_triggers_that_cannot_supply_it(
    tmp_path: Path, trigger_type: str
) -> None:
    report = report_for(tmp_path, INPUT_AUTOMATION.replace("{CONTEXT}", "{}"), trigger_type)
    assert lines(report) == [
        f"7:24: actions[0].parameters.repository_root: warning: input 'repository_root' has no default and a"
        f" {trigger_type} trigger cannot supply it: scheduled runs will be refused;"
        " add 'repository_root' under context:"
    ]


def test_input_without_default_is_fine_for_an_event_trigger(tmp_path: Path) -> None:
    report = report_for(tmp_path, INPUT_AUTOMATION.replace("{CONTEXT}", "{}"), "event")
    assert (report.inputs, lines(report)) == (("repository_root",), [])


@pytest.mark.parametrize("trigger_type", ["time", "condition"])
def test_context_default_removes_the_input_and_the_warning(tmp_path: Path, trigger_type: str) -> None:
    report = report_for(tmp_path, INPUT_AUTOMATION.replace("{CONTEXT}", "{repository_root: .}"), trigger_type)
    assert (report.inputs, lines(report)) == ((), [])


def test_a_malformed_string_does_not_hide_problems_in_the_others(tmp_path: Path) -> None:
    report = report_for(tmp_path, """
        actions:
          - type: http_request
            name: call
            parameters:
              url: "https://{host"
              headers: {X-Run: "{outputs.nope}"}
    """)
    assert lines(report) == [
        "5:12: actions[0].parameters.url: error: unclosed '{': write '{{' for a literal brace (at character 9)",
        "6:24: actions[0].parameters.headers.X-Run: error: '{outputs.nope}' refers to unknown action 'nope'",
    ]


def test_non_mapping_document_has_no_references(tmp_path: Path) -> None:
    report = report_for(tmp_path, "- just a list\n")
    assert (report.inputs, report.diagnostics) == ((), ())
