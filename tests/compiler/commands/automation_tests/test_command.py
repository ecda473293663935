"""``python -m compiler test``: the examples' test files pass; a broken expectation fails with the case's file:line."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from compiler.commands.cli import main
from tests.compiler.support import ROOT

EXAMPLE_TESTS = ROOT / "configs" / "tests"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["--config-dir", str(ROOT / "configs" / "automations"), "test", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_every_example_automation_has_a_test_file() -> None:
    automations = {p.stem for p in (ROOT / "configs" / "automations").glob("*.yaml")}
    assert automations <= {p.stem for p in EXAMPLE_TESTS.glob("*.yaml")}


def test_the_examples_test_files_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(capsys)
    assert (code, err) == (0, "")
    assert [line.split(" ")[0] for line in lines[:-1]] == [str(p) for p in sorted(EXAMPLE_TESTS.glob("*.yaml"))]
    assert all(set(line.split(" ", 1)[1]) == {"."} for line in lines[:-1])
    assert " passed in " in lines[-1] and "failed" not in lines[-1]


def _broken_copy(tmp_path: Path) -> tuple[Path, int]:
    """The health_alert test file with one expectation broken; the line of the broken case."""
    target = tmp_path / "health_alert.yaml"
    text = (EXAMPLE_TESTS / "health_alert.yaml").read_text(encoding="utf-8")
    assert 'message: "Health score is 42 (below 50)"' in text
    target.write_text(text.replace('message: "Health score is 42 (below 50)"', 'message: "Health score is 41 (below 50)"'), encoding="utf-8")
    line = next(i for i, row in enumerate(text.splitlines(), start=1) if "- name: a health score below 50" in row)
    return target, line


def test_a_broken_expectation_fails_with_the_cases_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target, line = _broken_copy(tmp_path)
    code, lines, _ = run(capsys, str(target))
    assert code == 1
    assert lines[0] == f"{target} F...."
    assert lines[1] == (
        f"FAILED {target}:{line}: a health score below 50 alerts the team and records the alert - "
        'alert_team.parameters.message: expected "Health score is 41 (below 50)", got "Health score is 42 (below 50)"'
    )
    assert lines[-1].startswith("1 failed, 4 passed in ")


def test_junit_xml_names_failures_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target, line = _broken_copy(tmp_path)
    shutil.copy(EXAMPLE_TESTS / "daily_security_scan.yaml", tmp_path / "daily_security_scan.yaml")
    report = tmp_path / "reports" / "automations.xml"
    code, _, _ = run(capsys, str(tmp_path), "--junit-xml", str(report))
    root = ET.parse(report).getroot()
    assert code == 1
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == ("testsuites", "11", "1", "0")
    (failed,) = [case for case in root.iter("testcase") if case.find("failure") is not None]
    assert (failed.get("file"), failed.get("line")) == (str(target), str(line))
    assert failed.find("failure").get("message").startswith("alert_team.parameters.message: expected")  # type: ignore[union-attr]


def test_file_errors_fail_the_run_and_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("automation: health_alert\ncases:\n  - name: x\n    when: {metric: {}}\n", encoding="utf-8")
    code, lines, _ = run(capsys, str(tmp_path))
    assert code == 1
    assert lines[0].startswith(f"{tmp_path / 'bad.yaml'}:4:12: cases[0].when.metric: unknown field 'metric'")
    assert lines[-1].startswith("0 passed, 1 error(s) in test files in ")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["no/such/folder"], 2, "test: no such file or folder: no/such/folder"),
        (["{empty}"], 1, "test: no test cases found in {empty}"),
    ],
)
def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    got, _, err = run(capsys, *(a.format(empty=empty) for a in args))
    assert got == code and message.format(empty=empty) in err


def test_runs_as_a_command_without_a_prefect_server(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_HOME": str(tmp_path)}  # nothing listens there
    done = subprocess.run([sys.executable, "-m", "compiler", "test"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prefect" not in done.stderr.lower()
