"""One config file's way in: listed by suffix, read with positions, its root a mapping, validated by a model; each problem a located diagnostic."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from compiler.language.diagnostics import Diagnostic, Severity, did_you_mean, format_location
from compiler.language.source import Location, SourceDocument, SourceError, load_source
from compiler.language.validation_errors import diagnostics_from_validation_error

__all__ = [
    "CONFIG_SUFFIXES",
    "Findings",
    "Report",
    "config_files",
    "named",
    "read_document",
    "reporter",
    "root_is_mapping",
    "validate_document",
]

CONFIG_SUFFIXES = (".yaml", ".yml", ".json")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


@dataclass
class Findings:
    """What a pass over config files found: every diagnostic and the files read (a catalog adds what was valid)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def named(found: Mapping[str, T], name: str, what: str) -> T:
    """``found[name]``; else KeyError("no <what> named 'x'; did you mean 'y'? (known: ...)")."""
    try:
        return found[name]
    except KeyError:
        known = ", ".join(sorted(found)) or "none"
        raise KeyError(f"no {what} named '{name}'{did_you_mean(name, found)} (known: {known})") from None


class Report(Protocol):
    """Reports a problem at a place in the document."""

    def __call__(self, loc: Location, message: str, severity: Severity = "error") -> None: ...


def config_files(folder: Path) -> list[Path]:
    """The config files directly in ``folder``, sorted; none when it does not exist."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in CONFIG_SUFFIXES)


def read_document(path: Path, diagnostics: list[Diagnostic], text: bytes | None = None) -> SourceDocument | None:
    """The file (or ``text`` as if it were the file) with positions, or None with its problems in ``diagnostics``."""
    try:
        return load_source(path, text=text)
    except SourceError as exc:
        diagnostics.extend(Diagnostic(str(path), p.line, p.col, "<file>", p.message) for p in exc.problems)
    except OSError as exc:
        diagnostics.append(Diagnostic(str(path), 1, 1, "<file>", f"cannot read file: {exc.strerror}"))
    return None


def root_is_mapping(doc: SourceDocument, what: str | None, diagnostics: list[Diagnostic]) -> bool:
    """Whether the document is a mapping; if not, a diagnostic saying what it should hold (``what``)."""
    if isinstance(doc.data, dict):
        return True
    got = type(doc.data).__name__ if doc.data is not None else "null"
    diagnostics.append(Diagnostic(doc.path, 1, 1, "<root>", f"expected a mapping{f' with {what}' if what else ''}, got {got}"))
    return False


def validate_document(doc: SourceDocument, model: type[M], diagnostics: list[Diagnostic]) -> M | None:
    """The document as ``model``, or None with every validation error located in ``diagnostics``."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        diagnostics.extend(diagnostics_from_validation_error(exc, doc, model))
        return None


def reporter(doc: SourceDocument, diagnostics: list[Diagnostic]) -> Report:
    """``report(loc, message, severity="error")``: a diagnostic at ``loc``'s line and column in ``doc``."""

    def report(loc: Location, message: str, severity: Severity = "error") -> None:
        pos = doc.position_of(loc)
        diagnostics.append(Diagnostic(doc.path, pos.line, pos.col, format_location(loc), message, severity))

    return report
