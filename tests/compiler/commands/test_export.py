"""Export round trip: export → write → validate → export again gives the same text, in YAML and JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compiler.language.catalog import LoadedAutomation, load_catalog
from compiler.language.normalize import normalized, to_json, to_yaml
from tests.compiler import spec_snippets as spec
from tests.compiler.support import EXAMPLES, make_config_dir

DUMPERS: dict[str, Callable[[Any], str]] = {"yaml": to_yaml, "json": to_json}

SOURCES = {
    **{path.stem: path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.glob("*.yaml"))},
    "spec-event": spec.with_trigger("event"),
    "spec-time": spec.with_trigger("time"),
    "spec-condition": spec.with_trigger("condition"),
    "spec-condition-snippet": spec.CONDITION_AUTOMATION,
    "spec-chained-actions": spec.CHAINED_AUTOMATION,
    "spec-retry-logic": spec.RETRY_AUTOMATION,
}
CASES = [(source, fmt) for source in SOURCES for fmt in DUMPERS]


def load_one(base: Path, text: str, filename: str) -> tuple[LoadedAutomation, list[str]]:
    """Validate one file in a fresh config folder: the automation and its error messages."""
    automations = make_config_dir(base)
    (automations / filename).write_text(text, encoding="utf-8")
    catalog = load_catalog(automations)
    errors = [str(d) for d in catalog.errors]
    assert len(catalog.automations) == 1, errors
    return next(iter(catalog.automations.values())), errors


def export(loaded: LoadedAutomation, fmt: str) -> str:
    return DUMPERS[fmt](normalized(loaded.automation))


@pytest.mark.parametrize(("source", "fmt"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_export_validates_and_exports_to_the_same_text(tmp_path: Path, source: str, fmt: str) -> None:
    original, _ = load_one(tmp_path / "original", SOURCES[source], "automation.yaml")
    first = export(original, fmt)
    reloaded, errors = load_one(tmp_path / "exported", first, f"{original.automation.name}.{fmt}")
    assert (errors, export(reloaded, fmt)) == ([], first)


@pytest.mark.parametrize(("source", "fmt"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
def test_exported_file_means_the_same_as_the_original(tmp_path: Path, source: str, fmt: str) -> None:
    original, _ = load_one(tmp_path / "original", SOURCES[source], "automation.yaml")
    reloaded, _ = load_one(tmp_path / "exported", export(original, fmt), f"exported.{fmt}")
    assert (reloaded.automation, reloaded.inputs) == (original.automation, original.inputs)


@pytest.mark.parametrize("source", list(SOURCES))
def test_yaml_and_json_exports_hold_the_same_data(tmp_path: Path, source: str) -> None:
    original, _ = load_one(tmp_path / "original", SOURCES[source], "automation.yaml")
    from_yaml, _ = load_one(tmp_path / "yaml", export(original, "yaml"), "a.yaml")
    from_json, _ = load_one(tmp_path / "json", export(original, "json"), "a.json")
    assert normalized(from_yaml.automation) == normalized(from_json.automation)


def test_export_fills_every_default(tmp_path: Path) -> None:
    minimal = (
        "name: minimal\n"
        "trigger: {type: event, event: {event_type: custom, custom_type: deployed}}\n"
        "actions:\n  - {type: log_message, name: say, parameters: {message: hi}}\n"
    )
    loaded, _ = load_one(tmp_path, minimal, "minimal.yaml")
    assert normalized(loaded.automation) == {
        "name": "minimal",
        "description": "",
        "version": "1.0",
        "status": "enabled",
        "tags": [],
        "context": {},
        "overlap": "allow",
        "trigger": {
            "type": "event",
            "event": {"event_type": "custom", "custom_type": "deployed"},
            "cooldown_seconds": 0,
        },
        "actions": [
            {
                "type": "log_message",
                "name": "say",
                "parameters": {"message": "hi", "level": "info"},
                "continue_on_failure": False,
                "retry_count": 0,
                "retry_delay_seconds": 0.0,
                "retry_backoff": "fixed",
                "retry_jitter": 0.0,
                "timeout_seconds": 300.0,
                "idempotency": {"enabled": True},
            }
        ],
    }


# Strings a careless dump would turn into booleans, nulls, numbers, dates, flow mappings or comments.
TRICKY_STRINGS = [
    "yes", "null", "1.0", "0o17", "2026-01-01", "{run_id}", "a: b", "- x", "#x", " padded ", "multi\nline", "ünï"
]


@pytest.mark.parametrize("fmt", list(DUMPERS))
def test_strings_that_look_like_other_yaml_values_survive(tmp_path: Path, fmt: str) -> None:
    context = {f"k{i}": value for i, value in enumerate(TRICKY_STRINGS)}
    text = (
        f"name: tricky\ncontext: {json.dumps(context)}\n"  # JSON is YAML: every value is a quoted string
        "trigger: {type: event, event: {event_type: chain_complete}}\n"
        "actions:\n  - {type: log_message, name: say, parameters: {message: hi}}\n"
    )
    original, _ = load_one(tmp_path / "original", text, "tricky.yaml")
    reloaded, _ = load_one(tmp_path / "exported", export(original, fmt), f"tricky.{fmt}")
    assert (original.automation.context, reloaded.automation.context) == (context, context)
