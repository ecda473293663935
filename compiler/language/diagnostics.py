"""Diagnostics: one located message per problem, formatted as ``path:line:col: field.path: message``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

__all__ = ["Diagnostic", "Severity", "did_you_mean", "format_location"]

Severity = Literal["error", "warning"]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the known name closest to a misspelt ``name``, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def format_location(loc: tuple[str | int, ...]) -> str:
    """``("actions", 0, "parameters", "url")`` → ``actions[0].parameters.url``; the root is ``<root>``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "<root>"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem found in a file; ``order=True`` sorts by file, then line, then column."""

    path: str
    line: int
    col: int
    field: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.path}:{self.line}:{self.col}: {self.field}: {prefix}{self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "field": self.field,
            "message": self.message,
            "severity": self.severity,
        }
