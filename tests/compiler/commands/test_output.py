"""compiler.commands.output: plain lines off a terminal (stable for logs and tests), rich tables and bars on one."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest

from compiler.commands import output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


COLUMNS = [output.Column("NAME"), output.Column("STATUS", style=output.status_style)]
ROWS = [("daily_scan", "Completed"), ("health_alert", "Failed")]
PLAIN = ["daily_scan   Completed", "health_alert Failed"]


def test_off_a_terminal_a_table_is_its_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    output.table(COLUMNS, ROWS, PLAIN, title="runs")
    assert capsys.readouterr().out.splitlines() == PLAIN


def test_on_a_terminal_a_table_is_drawn_with_every_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    output.table(COLUMNS, ROWS, PLAIN, title="runs")
    drawn = terminal.getvalue()
    assert all(cell in drawn for row in ROWS for cell in row) and "NAME" in drawn and "│" in drawn


@pytest.mark.parametrize(("stream", "total", "drawn"), [(io.StringIO(), 500, False), (_Terminal(), 5, False), (_Terminal(), 500, True)])
def test_progress_draws_only_on_a_terminal_and_only_for_many(stream: Any, total: int, drawn: bool) -> None:
    with output.progress("building", stream=stream, minimum=20) as step:
        for done in range(1, total + 1):
            step(done, total)
    assert bool(stream.getvalue()) is drawn


@pytest.mark.parametrize(("status", "style"), [("Completed", "green"), ("Failed", "red"), ("Skipped", "dim"), ("whatever", "")])
def test_status_colours(status: str, style: str) -> None:
    assert output.status_style(status) == style
