"""``python -m compiler`` as a user runs it: exit codes, what goes to stdout and stderr, JSON output."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.compiler import spec_snippets as spec
from tests.compiler.support import ROOT, make_config_dir


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "compiler", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


GOOD_EVENT = textwrap.dedent("""
    name: good_event
    trigger: {type: event, event: {event_type: agent_failed, agent_name: PG_HEALTH}}
    actions:
      - {type: log_message, name: say, parameters: {message: "agent {event.payload.agent_name} failed"}}
""").lstrip()
GOOD_TIME = textwrap.dedent("""
    name: good_time
    trigger: {type: time, time: {cron_expression: "*/30 9-17 * * *", timezone_str: Europe/Berlin}}
    actions:
      - {type: log_message, name: say, parameters: {message: "tick {time}"}}
""").lstrip()
BROKEN = textwrap.dedent("""
    name: broken
    trigger:
      type: time
      time: {cron_expression: "0 0 31 2 *"}
    actions:
      - type: log_message
        name: say
        parameters: {message: hi}
        retry_count: "3"
""").lstrip()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config folder with one broken and two good automation files."""
    automations = make_config_dir(tmp_path_factory.mktemp("mixed"))
    for name, text in {"a_good.yaml": GOOD_EVENT, "b_broken.yaml": BROKEN, "c_good.yaml": GOOD_TIME}.items():
        (automations / name).write_text(text, encoding="utf-8")
    return automations


@pytest.fixture(scope="module")
def mixed_validate(mixed: Path) -> subprocess.CompletedProcess[str]:
    return run("--config-dir", mixed, "validate")


@pytest.fixture(scope="module")
def mixed_list(mixed: Path) -> subprocess.CompletedProcess[str]:
    return run("--config-dir", mixed, "list")


@pytest.fixture(scope="module")
def spec_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config folder holding the spec's main example (which needs the input repository_root)."""
    automations = make_config_dir(tmp_path_factory.mktemp("spec"))
    (automations / "my_automation.yaml").write_text(spec.MAIN_EXAMPLE, encoding="utf-8")
    return automations


# --- validate ------------------------------------------------------------------------------------


def test_validate_examples_exits_0_with_a_clean_summary() -> None:
    result = run("validate")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "4 automation(s) valid, 1 webhook(s) valid, 0 error(s), 0 warning(s)\n",
        "",
    )


def test_validate_with_a_broken_file_exits_1(mixed_validate: subprocess.CompletedProcess[str]) -> None:
    assert mixed_validate.returncode == 1


def test_validate_prints_the_broken_files_errors_on_stderr(
    mixed: Path, mixed_validate: subprocess.CompletedProcess[str]
) -> None:
    broken = mixed / "b_broken.yaml"
    assert mixed_validate.stderr.splitlines() == [
        f"{broken}:4:27: trigger.time.cron_expression: cron expression '0 0 31 2 *' can never fire (no such date)",
        f"{broken}:9:18: actions[0].retry_count: expected an integer, got string '3'",
    ]


def test_validate_summary_counts_good_and_broken(mixed_validate: subprocess.CompletedProcess[str]) -> None:
    assert mixed_validate.stdout == "2 automation(s) valid, 2 error(s) in 1 file(s), 0 warning(s)\n"


def test_list_still_shows_the_two_good_automations(mixed_list: subprocess.CompletedProcess[str]) -> None:
    assert (mixed_list.returncode, mixed_list.stdout.splitlines()) == (
        0,
        [
            f"{'good_event':<36} {'enabled':<9} event agent_failed (agent_name=PG_HEALTH)  [1 action(s)]",
            f"{'good_time':<36} {'enabled':<9} cron '*/30 9-17 * * *' Europe/Berlin  [1 action(s)]",
        ],
    )


def test_list_says_that_broken_files_are_not_listed(mixed_list: subprocess.CompletedProcess[str]) -> None:
    assert mixed_list.stderr == "2 error(s) in 1 file(s) not listed; run validate\n"


def test_validate_json_parses_and_reports_every_diagnostic(mixed: Path) -> None:
    result = run("--config-dir", mixed, "validate", "--json")
    report = json.loads(result.stdout)
    assert (result.returncode, report["valid"], report["automations"]) == (1, False, ["good_event", "good_time"])
    assert [(d["path"], d["line"], d["col"], d["field"], d["severity"]) for d in report["diagnostics"]] == [
        (str(mixed / "b_broken.yaml"), 4, 27, "trigger.time.cron_expression", "error"),
        (str(mixed / "b_broken.yaml"), 9, 18, "actions[0].retry_count", "error"),
    ]


def test_list_json_parses(mixed: Path) -> None:
    result = run("--config-dir", mixed, "list", "--json")
    listing = json.loads(result.stdout)
    assert [(row["name"], row["actions"], row["inputs"]) for row in listing["automations"]] == [
        ("good_event", 1, []),
        ("good_time", 1, []),
    ]
    assert len(listing["errors"]) == 2


def test_validate_given_the_folder_as_a_path_reports_the_same(
    mixed: Path, mixed_validate: subprocess.CompletedProcess[str]
) -> None:
    result = run("--config-dir", mixed, "validate", mixed)
    assert (result.returncode, result.stderr) == (1, mixed_validate.stderr)


def test_validate_given_only_good_files_exits_0(mixed: Path) -> None:
    result = run("--config-dir", mixed, "validate", mixed / "a_good.yaml", mixed / "c_good.yaml")
    assert (result.returncode, result.stderr) == (0, "")


def test_validate_given_the_broken_file_exits_1(mixed: Path) -> None:
    assert run("--config-dir", mixed, "validate", mixed / "b_broken.yaml").returncode == 1


def test_warnings_go_to_stdout_and_do_not_fail(tmp_path: Path) -> None:
    automations = make_config_dir(tmp_path)
    path = automations / "my_automation.yaml"
    path.write_text(spec.with_trigger("time"), encoding="utf-8")
    result = run("--config-dir", automations, "validate")
    assert (result.returncode, result.stderr, result.stdout.splitlines()) == (
        0,
        "",
        [
            f"{path}:37:24: actions[0].parameters.repository_root: warning: input 'repository_root' has no default"
            " and a time trigger cannot supply it: scheduled runs will be refused;"
            " add 'repository_root' under context:",
            "1 automation(s) valid, 0 error(s), 1 warning(s)",
        ],
    )


# --- usage errors --------------------------------------------------------------------------------


def test_validate_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run("validate", missing)
    assert (result.returncode, result.stderr) == (2, f"validate: no such file or folder: {missing}\n")


def test_missing_config_dir_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = run("--config-dir", missing, "list")
    assert (result.returncode, result.stderr) == (2, f"list: no such config folder: {missing}\n")


@pytest.mark.parametrize(
    "args", [[], ["frobnicate"], ["export", "--format", "toml"]], ids=["no-command", "unknown-command", "bad-choice"]
)
def test_bad_arguments_are_usage_errors(args: list[str]) -> None:
    result = run(*args)
    assert (result.returncode, result.stdout) == (2, "")


# --- show, export, schema --------------------------------------------------------------------------


def test_show_lists_the_inputs(spec_dir: Path) -> None:
    result = run("--config-dir", spec_dir, "show", "my_automation")
    assert (result.returncode, result.stdout.splitlines()[:3]) == (
        0,
        [f"# {spec_dir / 'my_automation.yaml'}", "# inputs: repository_root", "name: my_automation"],
    )


def test_show_json_lists_the_inputs(spec_dir: Path) -> None:
    shown = json.loads(run("--config-dir", spec_dir, "show", "my_automation", "--json").stdout)
    assert (shown["inputs"], shown["definition"]["name"]) == (["repository_root"], "my_automation")


def test_show_of_an_unknown_name_suggests_the_closest(spec_dir: Path) -> None:
    result = run("--config-dir", spec_dir, "show", "my_automaton")
    assert (result.returncode, result.stderr) == (
        1,
        "no automation named 'my_automaton'; did you mean 'my_automation'? (known: my_automation)\n",
    )


def test_export_json_parses_to_every_example() -> None:
    result = run("export", "--format", "json")
    exported = json.loads(result.stdout)
    assert (result.returncode, [a["name"] for a in exported]) == (
        0,
        ["chain_completion_notification", "daily_security_scan", "health_alert", "record_push"],
    )


def test_export_of_one_json_parses_to_its_definition() -> None:
    exported = json.loads(run("export", "health_alert", "--format", "json").stdout)
    assert (exported["name"], exported["trigger"]["condition"]["threshold"]) == ("health_alert", 50)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_to_a_folder_round_trips(tmp_path: Path, fmt: str) -> None:
    first, second = make_config_dir(tmp_path / "first"), make_config_dir(tmp_path / "second")
    run("export", "--format", fmt, "--output-dir", first)
    validated = run("--config-dir", first, "validate")
    run("--config-dir", first, "export", "--format", fmt, "--output-dir", second)
    texts = {p.name: p.read_text(encoding="utf-8") for p in sorted(first.iterdir())}
    assert (validated.returncode, len(texts)) == (0, 4)
    assert texts == {p.name: p.read_text(encoding="utf-8") for p in sorted(second.iterdir())}


def test_schema_is_a_json_schema_of_the_automation() -> None:
    result = run("schema")
    schema = json.loads(result.stdout)
    assert result.returncode == 0
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"name", "trigger", "actions"} <= set(schema["required"])
    assert {"event", "time", "condition"} == {
        schema["$defs"][ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]["const"]
        for ref in schema["properties"]["trigger"]["oneOf"]
    }


# --------------------------------------------------------------------------------------------------
# Help: what the tool and each command do, in the user's words (never a note for the code's readers)

# A module path (compiler.commands.output, flows.engine.executor) or the old top-level docstring's note means a developer's note leaked.
_DEVELOPER_NOTE = re.compile(r"\b(?:compiler|flows|platform_god)\.[a-z_]+|printing goes through")


def _commands() -> dict[str, argparse.ArgumentParser]:
    from compiler.commands.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _description(help_text: str) -> str:
    """The paragraph after the usage lines."""
    return help_text.split("\n\n")[1]


def test_top_level_help_says_what_the_tool_does_and_lists_every_command() -> None:
    done = run("--help")
    description = _description(done.stdout)

    assert done.returncode == 0, done.stderr
    assert description.startswith("Platform God automations: ") and not _DEVELOPER_NOTE.search(done.stdout), done.stdout
    listed = {m.group(1) for m in re.finditer(r"^ {4}(\S+) +\S", done.stdout, re.M)}
    assert listed >= set(_commands()), f"commands without a one-line description: {sorted(set(_commands()) - listed)}"


@pytest.mark.parametrize("command", sorted(_commands()))
def test_each_command_help_opens_with_its_description_and_no_developer_note(command: str) -> None:
    text = _commands()[command].format_help()
    assert not text.split("\n\n")[1].startswith(("positional arguments:", "options:")), text
    assert not _DEVELOPER_NOTE.search(text), text
