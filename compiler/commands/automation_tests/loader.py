"""Load and check test files like automation files: every problem as ``file:line:col: field: message``, one pass.

A file that does not match the format runs none of its cases; a case that names an unknown automation
or action, or gives data its trigger cannot use, is an error and is not run; the file's other cases run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from compiler.commands.automation_tests.model import Case, TestFile
from compiler.language.catalog import AUTOMATION_SUFFIXES, Catalog, LoadedAutomation
from compiler.language.config_files import Findings, read_document, root_is_mapping, validate_document
from compiler.language.diagnostics import Diagnostic, did_you_mean, format_location
from compiler.language.project import beside
from compiler.language.source import Location, SourceDocument
from flows.events.matching import normalize_event

__all__ = ["LoadedCase", "TestSuite", "load_tests", "test_files", "tests_dir_for"]

# The trigger data each trigger type reads; the others are errors (they would be silently ignored).
_TRIGGER_DATA = {"event": "event", "condition": "metrics", "time": "scheduled_time"}


@dataclass(frozen=True)
class LoadedCase:
    """A checked case, ready to run; ``line`` is where the case starts in its file."""

    path: str
    line: int
    case: Case
    loaded: LoadedAutomation
    scheduled: datetime | None = None
    now: datetime | None = None

    @property
    def name(self) -> str:
        return self.case.name


@dataclass
class TestSuite(Findings):
    """Every runnable case and every problem found in the test files."""

    cases: list[LoadedCase] = field(default_factory=list)


def tests_dir_for(config_dir: Path) -> Path:
    """``configs/automations`` → ``configs/tests``."""
    return beside(config_dir, "tests")


def test_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders expanded to their .yaml/.yml/.json files (sorted)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix in AUTOMATION_SUFFIXES))
        else:
            files.append(path)
    return files


class _Problems:
    """Collects located diagnostics for one document."""

    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.found: list[Diagnostic] = []

    def add(self, loc: Location, message: str, *, key: bool = False) -> None:
        pos = self.doc.position_of(loc, key=key)
        self.found.append(Diagnostic(self.doc.path, pos.line, pos.col, format_location(loc), message))


def _parse_time(text: str, zone: tzinfo) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def _check_actions(problems: _Problems, at: Location, case: Case, loaded: LoadedAutomation) -> None:
    names = [a.name for a in loaded.automation.actions]
    known = f"(actions of {loaded.automation.name}: {', '.join(names)})"

    def check(loc: Location, name: str, key: bool) -> None:
        if name not in names:
            problems.add(loc, f"unknown action '{name}'{did_you_mean(name, names)} {known}", key=key)

    for name in case.when.outputs:
        check((*at, "when", "outputs", name), name, True)
    for index, name in enumerate(case.when.failing):
        check((*at, "when", "failing", index), name, False)
    for name in case.expect.parameters:
        check((*at, "expect", "parameters", name), name, True)
    for index, name in enumerate(case.expect.skipped or []):
        check((*at, "expect", "skipped", index), name, False)


def _check_event(problems: _Problems, at: Location, event: dict[str, Any]) -> None:
    try:
        normalize_event(event)
    except (ValueError, TypeError) as exc:
        problems.add((*at, "when", "event"), str(exc))


def _check_trigger_data(problems: _Problems, at: Location, case: Case, loaded: LoadedAutomation) -> tuple[datetime | None, datetime | None]:
    """Problems with the trigger data, and the parsed scheduled/start times."""
    trigger = loaded.automation.trigger
    needed = _TRIGGER_DATA.get(trigger.type)
    when = case.when
    if needed is None:
        problems.add(at, f"{loaded.automation.name} has a {trigger.type} trigger, which test cases cannot drive")
        return None, None
    for data_key in _TRIGGER_DATA.values():
        given = getattr(when, data_key) is not None
        if data_key == needed and not given:
            problems.add((*at, "when"), f"{loaded.automation.name} has a {trigger.type} trigger: give when.{needed}")
        elif data_key != needed and given:
            message = f"{loaded.automation.name} has a {trigger.type} trigger, which uses when.{needed}, not {data_key}"
            problems.add((*at, "when", data_key), message, key=True)
    if when.event is not None and trigger.type == "event":
        _check_event(problems, at, when.event)
    zone: tzinfo = ZoneInfo(trigger.time.timezone_str) if trigger.type == "time" else UTC
    parsed: dict[str, datetime | None] = {"scheduled_time": None, "now": None}
    for time_key in parsed:
        text = getattr(when, time_key)
        if text is None:
            continue
        try:
            parsed[time_key] = _parse_time(text, zone)
        except ValueError:
            problems.add((*at, "when", time_key), f"'{text}' is not an ISO 8601 time such as 2025-01-15T02:00:00Z")
    return parsed["scheduled_time"], parsed["now"]


def _automation_for(problems: _Problems, at: Location, case: Case, file: TestFile, catalog: Catalog) -> LoadedAutomation | None:
    name = case.automation or file.automation
    if name is None:
        problems.add(at, "no automation: give 'automation' in the case or at the top of the file")
        return None
    try:
        return catalog.get(name)
    except KeyError as exc:
        loc: Location = (*at, "automation") if case.automation else ("automation",)
        problems.add(loc, f"{exc.args[0]}; only valid automations can be tested (run validate)")
        return None


def _load_file(path: Path, catalog: Catalog, suite: TestSuite) -> None:
    doc = read_document(path, suite.diagnostics)
    if doc is None or not root_is_mapping(doc, "cases (and automation)", suite.diagnostics):
        return
    file = validate_document(doc, TestFile, suite.diagnostics)
    if file is None:
        return
    for index, case in enumerate(file.cases):
        problems = _Problems(doc)
        at: Location = ("cases", index)
        loaded = _automation_for(problems, at, case, file, catalog)
        scheduled = now = None
        if loaded is not None:
            _check_actions(problems, at, case, loaded)
            scheduled, now = _check_trigger_data(problems, at, case, loaded)
        suite.diagnostics.extend(problems.found)
        if loaded is not None and not problems.found:
            line = doc.position_of(at).line
            suite.cases.append(LoadedCase(doc.path, line, case, loaded, scheduled, now))


def load_tests(files: list[Path], catalog: Catalog) -> TestSuite:
    """Check every file against the format and ``catalog``; a bad file or case never stops the others."""
    suite = TestSuite()
    for path in files:
        suite.files.append(str(path))
        _load_file(path, catalog, suite)
    suite.diagnostics = sorted(set(suite.diagnostics))  # a bad file-level automation is found once per case
    return suite
