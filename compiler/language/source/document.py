"""What a loaded file is: plain data, the position of every node, the problems found, and the limits that guard loading."""

from __future__ import annotations

import os
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = ["Location", "Position", "SourceDocument", "SourceError", "SourceLimits", "SourceProblem"]

Location = tuple[str | int, ...]

EMPTY_MESSAGE = "file is empty: expected a mapping with name, trigger and actions"

@dataclass(frozen=True, slots=True)
class Position:
    """Start of a node in the file."""

    line: int  # 1-based
    col: int  # 1-based, counted in characters (not bytes)


_new_object = object.__new__
_set_line = vars(Position)["line"].__set__  # the slot's descriptor (type checkers see the field, not the slot)
_set_col = vars(Position)["col"].__set__


def fast_position(line: int, col: int) -> Position:
    """``Position(line, col)`` at a third of the cost: a frozen dataclass's __init__ goes through
    object.__setattr__, and the loader makes one per node (~100,000 for 1,000 files)."""
    position = _new_object(Position)
    _set_line(position, line)
    _set_col(position, col)
    return position


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """One reason the file could not be loaded."""

    line: int
    col: int
    message: str  # says what is wrong and what is allowed


class SourceError(Exception):
    """The file could not be loaded; ``problems`` lists every problem found (at least one)."""

    def __init__(self, problems: list[SourceProblem], path: str = "") -> None:
        self.problems: list[SourceProblem] = problems
        self.path: str = path
        prefix = f"{path}:" if path else ""
        super().__init__("\n".join(f"{prefix}{p.line}:{p.col}: {p.message}" for p in problems))


@dataclass
class SourceDocument:
    """Plain data of one automation file plus the position of each node."""

    path: str  # as given
    data: Any  # dict/list/str/int/float/bool/None; aliased values are shared objects, as with yaml.safe_load
    value_positions: dict[Location, Position] = field(default_factory=dict)  # location -> start of the value; () is the root
    key_positions: dict[Location, Position] = field(default_factory=dict)  # location of a mapping entry -> start of its key

    def position_of(self, loc: Location, *, key: bool = False) -> Position:
        """Position of loc (key position when key=True and known); falls back to the nearest known ancestor, then 1:1."""
        if key:
            found = self.key_positions.get(loc)
            if found is not None:
                return found
        # Values inside aliases and merges are not recorded one by one (that would undo the
        # alias-bomb guard), so the nearest recorded ancestor is the best answer we have.
        for end in range(len(loc), -1, -1):
            found = self.value_positions.get(loc[:end])
            if found is not None:
                return found
        return Position(1, 1)


@dataclass(frozen=True, slots=True)
class SourceLimits:
    """Guards against files that are too large or too expensive to load."""

    max_bytes: int = 1_000_000
    max_aliases: int = 100  # alias (*ref) uses per document
    max_depth: int = 64  # nesting of mappings/sequences
    max_nodes: int = 200_000  # total nodes after alias expansion (alias-bomb guard)


class Stop(Exception):
    """A guard tripped: what follows cannot be loaded safely, so stop with the problems so far."""


def fail(path: str, line: int, col: int, message: str) -> NoReturn:
    raise SourceError([SourceProblem(line, col, message)], path)


def read_limited(path: str, limits: SourceLimits) -> bytes:
    with open(path, "rb") as handle:
        # A huge file is rejected without loading it all. (read(limit + 1) would allocate the whole
        # limit, 1 MB, for every file: measured as half of the time spent reading 1,000 files.)
        size = os.fstat(handle.fileno()).st_size
        raw = handle.read(limits.max_bytes + 1) if size > limits.max_bytes else handle.read()
        if len(raw) > limits.max_bytes:
            fail(path, 1, 1, f"file is {max(size, len(raw))} bytes; the limit is {limits.max_bytes} bytes")
    return raw


def decode(path: str, raw: bytes) -> str:
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line_start = raw.rfind(b"\n", 0, offset) + 1
        line = raw.count(b"\n", 0, offset) + 1
        # Everything before the first bad byte is valid, so its decoded length is the column.
        col = len(raw[line_start:offset].decode("utf-8")) + 1
        fail(path, line, col, f"file is not valid UTF-8 (byte 0x{raw[offset]:02x} at offset {offset}); save it as UTF-8")
    # A BOM is legal UTF-8 but json.loads rejects it and it would shift line-1 columns.
    return source[1:] if source.startswith("\ufeff") else source


def position_of_offset(line_starts: list[int], offset: int) -> tuple[int, int]:
    index = bisect_right(line_starts, offset) - 1
    return index + 1, offset - line_starts[index] + 1


def line_starts(source: str) -> list[int]:
    starts = [0]
    find = source.find
    at = find("\n")
    while at != -1:
        starts.append(at + 1)
        at = find("\n", at + 1)
    return starts

