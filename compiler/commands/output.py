"""Everything the commands print, in one place: lines, tables, progress bars and serve's log (rich on a terminal).

On a terminal, tables are rich tables and long builds and deploys show a progress bar. Anywhere else
(pipes, files, CI logs, tests) the same information is printed as plain lines whose format does not
change with the terminal's width or colours. ``--json`` output goes through ``out`` untouched.

A reader that leaves early (``plan | head``) ends the command quietly, as it ends ``git log``: see
``finish_output``, ``closed_output`` and ``stdout_closed``.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.console import JustifyMethod

__all__ = [
    "CLOSED_PIPE_EXIT", "Column", "closed_output", "err", "finish_output", "is_terminal", "out", "progress", "say",
    "status_style", "stdout_closed", "table",
]

CLOSED_PIPE_EXIT = 141  # 128 + SIGPIPE: the status a shell shows for `git log | head`'s git


def out(text: str = "") -> None:
    """One line (or a block ending in a newline) on stdout."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def err(text: str) -> None:
    """One line on stderr (errors, diagnostics, what went wrong)."""
    sys.stderr.write(text + "\n")


def say(text: str) -> None:
    """A line of a long-running command's log (serve, webhooks): flushed at once, so a log file follows it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def finish_output() -> None:
    """Flush what the command printed now, so a reader that left is noticed while the command can still end
    quietly, not in the interpreter's last flush (which prints ``Exception ignored … BrokenPipeError``)."""
    sys.stdout.flush()
    sys.stderr.flush()


def _reader_gone(stream: TextIO) -> bool:
    """True when ``stream`` is a pipe whose reading end is closed (poll reports an error on it)."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's StringIO), or closed
        return False


def closed_output() -> bool:
    """Whether a BrokenPipeError came from our own output (stdout or stderr read by a reader that left)."""
    return _reader_gone(sys.stdout) or _reader_gone(sys.stderr)


def stdout_closed() -> int:
    """After the reader of our output left: stdout and stderr go to /dev/null (so nothing else fails writing
    there, the interpreter's last flush included) and the command ends with the status of a closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, OSError, ValueError):
                os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except OSError:
        pass
    return CLOSED_PIPE_EXIT


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream or sys.stdout
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _console(stream: TextIO | None = None) -> Any:
    # deferred: rich costs ~35 ms (measured) and only a terminal gets its tables and bars (CI logs and pipes get plain text)
    from rich.console import Console

    return Console(file=stream or sys.stdout, highlight=False)


@dataclass(frozen=True)
class Column:
    """A table column: header, alignment, and an optional style per cell value (e.g. status colours)."""

    header: str
    justify: JustifyMethod = "left"
    style: Callable[[str], str] | None = None


_STATUS_STYLES = {
    "Completed": "green", "Cached": "cyan", "Skipped": "dim", "enabled": "green", "disabled": "dim",
    "Failed": "red", "Crashed": "red", "TimedOut": "red", "timed_out": "red", "Cancelled": "yellow", "Running": "blue",
}


def status_style(value: str) -> str:
    """The colour of a run, action or automation status."""
    return _STATUS_STYLES.get(value, "")


def table(columns: Sequence[Column], rows: Sequence[Sequence[Any]], plain: Sequence[str], *, title: str | None = None) -> None:
    """``rows`` as a rich table on a terminal; elsewhere the ``plain`` lines (the stable text format)."""
    if not is_terminal():
        for line in plain:
            out(line)
        return
    # deferred: rich costs ~35 ms (measured) and only a terminal gets its tables and bars (CI logs and pipes get plain text)
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column.header, justify=column.justify, overflow="fold")  # fold: never hide text
    for row in rows:
        cells = []
        for column, value in zip(columns, row, strict=True):
            text = "" if value is None else str(value)
            cells.append(Text(text, style=column.style(text) if column.style else ""))
        grid.add_row(*cells)
    _console().print(grid)


@contextlib.contextmanager
def progress(description: str, *, stream: TextIO | None = None, minimum: int = 20) -> Iterator[Callable[[int, int], None]]:
    """A callback ``(done, total)`` drawing a progress bar on a terminal once ``total`` reaches ``minimum``;
    a no-op elsewhere (a CI log gets the command's plain summary lines, not bar redraws)."""
    stream = stream or sys.stderr
    if not is_terminal(stream):
        yield lambda done, total: None
        return
    # deferred: rich costs ~35 ms (measured) and only a terminal gets its tables and bars (CI logs and pipes get plain text)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=_console(stream), transient=True)
    task: list[Any] = []

    def update(done: int, total: int) -> None:
        if total < minimum:
            return
        if not task:
            bar.start()
            task.append(bar.add_task(description, total=total))
        bar.update(task[0], completed=done, total=total)

    try:
        yield update
    finally:
        if task:
            bar.stop()
