"""A check that crashes on one file is reported as that file's error; every other file is still checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from compiler.language import catalog as catalog_module
from compiler.language.catalog import load_catalog
from tests.compiler.support import lines_for, make_config_dir

GOOD = "name: {name}\ntrigger: {{type: event, event: {{event_type: chain_complete}}}}\n" \
       "actions:\n  - {{type: log_message, name: say, parameters: {{message: hi}}}}\n"


def _folder(tmp_path: Path) -> Path:
    automations = make_config_dir(tmp_path)
    for name in ("a_first", "b_crashes", "c_last"):
        (automations / f"{name}.yaml").write_text(GOOD.format(name=name), encoding="utf-8")
    return automations


@pytest.fixture
def crashing_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the reference check raise an unexpected exception for b_crashes.yaml only."""
    real = catalog_module.check_references

    def check(doc: Any, trigger_type: str | None) -> Any:
        if doc.path.endswith("b_crashes.yaml"):
            raise IsADirectoryError(21, "Is a directory", "/usr/share/zoneinfo/Europe")
        return real(doc, trigger_type)

    monkeypatch.setattr(catalog_module, "check_references", check)


def test_the_crashing_file_gets_one_located_error_line(tmp_path: Path, crashing_check: None) -> None:
    automations = _folder(tmp_path)
    catalog = load_catalog(automations)
    assert lines_for(catalog, automations / "b_crashes.yaml") == [
        "1:1: <file>: internal error while checking this file (IsADirectoryError: [Errno 21] Is a directory:"
        " '/usr/share/zoneinfo/Europe'); the other files were checked; please report this"
    ]


def test_the_other_files_are_still_checked_and_valid(tmp_path: Path, crashing_check: None) -> None:
    catalog = load_catalog(_folder(tmp_path))
    assert sorted(catalog.automations) == ["a_first", "c_last"]


def test_a_crash_while_reading_a_chain_is_reported_for_that_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    automations = _folder(tmp_path)
    chains = automations.parent / "chains"
    (chains / "zz_broken.yaml").write_text("name: zz\nsteps: []\n", encoding="utf-8")
    real = catalog_module.validate_document

    def validate(doc: Any, model: Any, diagnostics: Any) -> Any:
        if doc.path.endswith("zz_broken.yaml"):
            raise RecursionError("maximum recursion depth exceeded")
        return real(doc, model, diagnostics)

    monkeypatch.setattr(catalog_module, "validate_document", validate)
    catalog = load_catalog(automations)
    assert [str(d).removeprefix(f"{chains}/") for d in catalog.diagnostics] == [
        "zz_broken.yaml:1:1: <file>: internal error while checking this file (RecursionError: maximum recursion"
        " depth exceeded); the other files were checked; please report this"
    ]
    assert sorted(catalog.automations) == ["a_first", "b_crashes", "c_last"]
