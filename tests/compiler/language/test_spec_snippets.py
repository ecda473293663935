"""The spec's YAML snippets load unchanged, and the shipped examples validate with no errors or warnings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from compiler.language.catalog import Catalog, load_catalog, load_chains
from compiler.language.model.triggers import EventType, Operator, TimeSpec
from flows.actions import ACTION_TYPES
from tests.compiler import spec_snippets as spec
from tests.compiler.support import EXAMPLES, ROOT, lines_for, validate_text

SPEC_FILE = Path("/work/shared/spec/platform-god-automations.md")


def test_main_example_with_its_event_trigger_is_valid(tmp_path: Path) -> None:
    catalog, path = validate_text(tmp_path, spec.MAIN_EXAMPLE)
    assert lines_for(catalog, path) == []


def test_main_example_needs_repository_root_as_input(tmp_path: Path) -> None:
    catalog, _ = validate_text(tmp_path, spec.MAIN_EXAMPLE)
    assert catalog.get("my_automation").inputs == ("repository_root",)


@pytest.mark.parametrize("kind", ["time", "condition"])
def test_main_example_with_commented_trigger_swapped_in_is_valid_with_one_input_warning(
    tmp_path: Path, kind: str
) -> None:
    # The spec's example has no context default for repository_root, which a schedule cannot supply.
    catalog, path = validate_text(tmp_path, spec.with_trigger(kind))
    assert lines_for(catalog, path) == [
        f"37:24: actions[0].parameters.repository_root: warning: input 'repository_root' has no default and a"
        f" {kind} trigger cannot supply it: scheduled runs will be refused; add 'repository_root' under context:"
    ]


def test_swapping_triggers_changes_only_the_trigger(tmp_path: Path) -> None:
    kinds = {}
    for kind in ("event", "time", "condition"):
        catalog, _ = validate_text(tmp_path / kind, spec.with_trigger(kind))
        kinds[kind] = catalog.get("my_automation").automation.trigger.type
    assert kinds == {"event": "event", "time": "time", "condition": "condition"}


@pytest.mark.parametrize(
    ("snippet", "automation"),
    [
        (spec.CONDITION_TRIGGER, spec.CONDITION_AUTOMATION),
        (spec.CHAINED_ACTIONS, spec.CHAINED_AUTOMATION),
        (spec.RETRY_LOGIC, spec.RETRY_AUTOMATION),
    ],
    ids=["condition-triggers", "chained-actions", "retry-logic"],
)
def test_completed_fragment_is_valid(tmp_path: Path, snippet: str, automation: str) -> None:
    catalog, path = validate_text(tmp_path, automation)
    assert lines_for(catalog, path) == []


@pytest.mark.parametrize(
    ("snippet", "automation"),
    [
        (spec.CONDITION_TRIGGER, spec.CONDITION_AUTOMATION),
        (spec.CHAINED_ACTIONS, spec.CHAINED_AUTOMATION),
        (spec.RETRY_LOGIC, spec.RETRY_AUTOMATION),
    ],
    ids=["condition-triggers", "chained-actions", "retry-logic"],
)
def test_completion_keeps_every_line_of_the_fragment_in_order(snippet: str, automation: str) -> None:
    remaining = iter(automation.splitlines())
    kept = [line for line in snippet.splitlines() if line.strip() != "# ..."]
    assert all(any(line == other for other in remaining) for line in kept)


@pytest.mark.parametrize("cron", spec.CRON_EXAMPLES)
def test_spec_cron_examples_are_valid(cron: str) -> None:
    assert TimeSpec(cron_expression=cron).cron_expression == cron


@pytest.mark.parametrize(
    ("listed", "language"),
    [
        (spec.EVENT_TYPES, list(get_args(EventType))),
        (spec.OPERATORS, list(get_args(Operator))),
        (spec.ACTION_TYPES, list(ACTION_TYPES)),
    ],
    ids=["event-types", "operators", "action-types"],
)
def test_spec_lists_are_exactly_what_the_language_accepts(listed: list[str], language: list[str]) -> None:
    assert listed == language


@pytest.mark.skipif(not SPEC_FILE.exists(), reason="the shared spec is not checked out here")
def test_snippets_are_verbatim_copies_of_the_spec() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", SPEC_FILE.read_text(encoding="utf-8"), re.S)
    assert blocks == [spec.MAIN_EXAMPLE, spec.CONDITION_TRIGGER, spec.CHAINED_ACTIONS, spec.RETRY_LOGIC]


# --- the examples shipped in configs/ -----------------------------------------------------------

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def examples() -> Catalog:
    return load_catalog(EXAMPLES)


def test_there_are_the_three_examples_the_spec_names_and_the_readmes_webhook_automation() -> None:
    assert [p.name for p in EXAMPLE_FILES] == [
        "chain_completion_notification.yaml",
        "daily_security_scan.yaml",
        "health_alert.yaml",
        "record_push.yaml",  # the README's webhook example (configs/webhooks/github_push.yaml) triggers it
    ]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_has_no_errors_or_warnings(examples: Catalog, path: Path) -> None:
    assert lines_for(examples, path) == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_is_in_the_catalog_under_its_file_name(examples: Catalog, path: Path) -> None:
    assert examples.get(path.stem).path == str(path)


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_example_needs_no_inputs(examples: Catalog, path: Path) -> None:
    # Every example can run from its trigger alone: defaults for all it uses are in the file.
    assert examples.get(path.stem).inputs == ()


def test_example_chains_are_valid() -> None:
    chains, diagnostics = load_chains(ROOT / "configs" / "chains")
    assert (sorted(chains), diagnostics) == (["full_analysis"], [])
