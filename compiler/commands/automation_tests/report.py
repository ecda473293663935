"""Test results like pytest prints them (a line of dots per file, one line per failing case) and as JUnit XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from compiler.commands.automation_tests.evaluate import CaseOutcome
from compiler.language.diagnostics import Diagnostic

__all__ = ["failure_line", "summary_line", "text_lines", "write_junit"]


def _by_file(outcomes: Sequence[CaseOutcome], files: Sequence[str]) -> dict[str, list[CaseOutcome]]:
    grouped: dict[str, list[CaseOutcome]] = {path: [] for path in files}
    for outcome in outcomes:
        grouped.setdefault(outcome.case.path, []).append(outcome)
    return grouped


def failure_line(outcome: CaseOutcome) -> str:
    """``FAILED path:line: case name - every failure``: one line, so CI logs and editors can jump to the case."""
    return f"FAILED {outcome.case.path}:{outcome.case.line}: {outcome.case.name} - " + "; ".join(outcome.failures)


def summary_line(outcomes: Sequence[CaseOutcome], errors: Sequence[Diagnostic], seconds: float) -> str:
    failed = sum(1 for o in outcomes if not o.passed)
    parts = [f"{failed} failed"] if failed else []
    parts.append(f"{len(outcomes) - failed} passed")
    if errors:
        parts.append(f"{len(errors)} error(s) in test files")
    return f"{', '.join(parts)} in {seconds:.2f}s"


def text_lines(
    outcomes: Sequence[CaseOutcome], diagnostics: Sequence[Diagnostic], files: Sequence[str], seconds: float, *, verbose: bool = False
) -> list[str]:
    """Diagnostics first, then per file its dots (``.`` passed, ``F`` failed) or, verbose, one line per case."""
    lines = [str(d) for d in diagnostics]
    for path, results in _by_file(outcomes, files).items():
        if verbose:
            lines.extend(f"{path}:{o.case.line}: {o.case.name} {'PASSED' if o.passed else 'FAILED'}" for o in results)
        elif results:
            lines.append(f"{path} " + "".join("." if o.passed else "F" for o in results))
    lines.extend(failure_line(o) for o in outcomes if not o.passed)
    lines.append(summary_line(outcomes, [d for d in diagnostics if d.severity == "error"], seconds))
    return lines


def write_junit(
    target: Path, outcomes: Sequence[CaseOutcome], diagnostics: Sequence[Diagnostic], files: Sequence[str], seconds: float
) -> None:
    """One ``testsuite`` per test file; a case is a ``testcase`` (``failure`` when it failed), a file error an ``error``."""
    root = ET.Element("testsuites", name="automation tests", time=f"{seconds:.3f}")
    grouped = _by_file(outcomes, files)
    errors_by_file: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        if diagnostic.severity == "error":
            errors_by_file.setdefault(diagnostic.path, []).append(diagnostic)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for path in dict.fromkeys([*grouped, *errors_by_file]):
        results, errors = grouped.get(path, []), errors_by_file.get(path, [])
        failures = sum(1 for o in results if not o.passed)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=path,
            tests=str(len(results) + len(errors)),
            failures=str(failures),
            errors=str(len(errors)),
            time=f"{sum(o.seconds for o in results):.3f}",
        )
        classname = Path(path).with_suffix("").as_posix().strip("/").replace("/", ".")
        for outcome in results:
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=outcome.case.name, file=path, line=str(outcome.case.line),
                time=f"{outcome.seconds:.4f}",
            )
            if not outcome.passed:
                failure = ET.SubElement(case, "failure", message=outcome.failures[0])
                failure.text = f"{path}:{outcome.case.line}\n" + "\n".join(outcome.failures)
        for diagnostic in errors:
            name = f"{diagnostic.field} (line {diagnostic.line})"
            case = ET.SubElement(suite, "testcase", classname=classname, name=name, file=path, line=str(diagnostic.line))
            ET.SubElement(case, "error", message=diagnostic.message).text = str(diagnostic)
        totals["tests"] += len(results) + len(errors)
        totals["failures"] += failures
        totals["errors"] += len(errors)
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    target.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
