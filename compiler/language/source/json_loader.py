"""The JSON loader: ``json.loads`` semantics, plus the position of every node and duplicate keys."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from compiler.language.source.document import (
    EMPTY_MESSAGE,
    Location,
    Position,
    SourceLimits,
    SourceProblem,
    Stop,
    line_starts,
    position_of_offset,
)

_JSON_WS = re.compile(r"[ \t\n\r]*")
# The pattern matches (perhaps nothing) at every offset, so its match is never None: typed as such once.
_json_ws: Callable[[str, int], re.Match[str]] = _JSON_WS.match  # type: ignore[assignment]
_JSON_NUMBER = re.compile(r"(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?")  # json.scanner.NUMBER_RE
# json.loads accepts NaN and the infinities too; validation rejects them later, as for YAML's .nan.
_JSON_CONSTANTS: dict[str, Any] = {
    "null": None,
    "true": True,
    "false": False,
    "NaN": float("nan"),
    "Infinity": float("inf"),
    "-Infinity": float("-inf"),
}
# C scanner of a JSON string (after its opening quote): (text, offset after the closing quote). Not in typeshed.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


class _JsonInvalid(Exception):
    """Not valid JSON: json.loads is asked for the exact error and position."""


class JsonLoader:
    """A JSON reader with json.loads semantics that also records positions and duplicate keys.

    Reusing the YAML parser for JSON would give YAML's answers (1e5 is a string there, surrogate
    escapes are rejected, keys are limited to 1024 characters), so JSON gets its own small walker.
    """

    def __init__(self, source: str, limits: SourceLimits) -> None:
        self.source = source
        self.limits = limits
        self.line_starts = line_starts(source)
        self.problems: list[SourceProblem] = []
        self.value_positions: dict[Location, Position] = {}
        self.key_positions: dict[Location, Position] = {}
        self.nodes = 0

    def load(self) -> tuple[Any, dict[Location, Position], dict[Location, Position], list[SourceProblem]]:
        source = self.source
        if not source.strip(" \t\n\r"):
            return None, {}, {}, [SourceProblem(1, 1, EMPTY_MESSAGE)]
        data: Any = None
        try:
            start = _json_ws(source, 0).end()
            data, end = self._value(start, (), 1)
            if _json_ws(source, end).end() != len(source):
                raise _JsonInvalid(end)
        except Stop:
            pass
        except (_JsonInvalid, json.JSONDecodeError, IndexError, ValueError, RecursionError):
            self.problems = [self._json_error()]
        return data, self.value_positions, self.key_positions, self.problems

    def _json_error(self) -> SourceProblem:
        try:
            json.loads(self.source)
        except json.JSONDecodeError as exc:
            return SourceProblem(exc.lineno, exc.colno, f"JSON syntax error: {exc.msg}")
        except RecursionError:
            return SourceProblem(1, 1, "JSON syntax error: nesting is too deep")
        return SourceProblem(1, 1, "JSON syntax error")

    def _position(self, offset: int) -> Position:
        line, col = position_of_offset(self.line_starts, offset)
        return Position(line, col)

    def _count(self, offset: int) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            self._problem(offset, f"document has more than {self.limits.max_nodes} nodes; split it into smaller files")
            raise Stop

    def _problem(self, offset: int, message: str) -> None:
        line, col = position_of_offset(self.line_starts, offset)
        self.problems.append(SourceProblem(line, col, message))

    def _value(self, at: int, path: Location, depth: int) -> tuple[Any, int]:
        source = self.source
        self.value_positions[path] = self._position(at)
        self._count(at)
        char = source[at]
        if char == '"':
            return _scanstring(source, at + 1)
        if char == "{" or char == "[":
            if depth > self.limits.max_depth:
                self._problem(at, f"nesting is deeper than {self.limits.max_depth} levels; flatten the structure")
                raise Stop
            return self._object(at, path, depth) if char == "{" else self._array(at, path, depth)
        number = _JSON_NUMBER.match(source, at)
        if number is not None:
            integer, fraction, exponent = number.groups()
            if fraction or exponent:
                return float(integer + (fraction or "") + (exponent or "")), number.end()
            return int(integer), number.end()
        for word, constant in _JSON_CONSTANTS.items():
            if source.startswith(word, at):
                return constant, at + len(word)
        raise _JsonInvalid(at)

    def _object(self, at: int, path: Location, depth: int) -> tuple[dict[str, Any], int]:
        source = self.source
        ws = _json_ws
        result: dict[str, Any] = {}
        first_lines: dict[str, int] = {}
        at = ws(source, at + 1).end()
        if source[at] == "}":
            return result, at + 1
        while True:
            if source[at] != '"':
                raise _JsonInvalid(at)
            key_at = at
            key, at = _scanstring(source, at + 1)
            key_position = self._position(key_at)
            first = first_lines.get(key)
            if first is not None:
                message = f"duplicate key '{key}' (first defined at line {first})"
                self.problems.append(SourceProblem(key_position.line, key_position.col, message))
            else:
                first_lines[key] = key_position.line
                self.key_positions[(*path, key)] = key_position
            at = ws(source, at).end()
            if source[at] != ":":
                raise _JsonInvalid(at)
            at = ws(source, at + 1).end()
            value, at = self._value(at, (*path, key), depth + 1)
            result[key] = value
            at = ws(source, at).end()
            if source[at] == "}":
                return result, at + 1
            if source[at] != ",":
                raise _JsonInvalid(at)
            at = ws(source, at + 1).end()

    def _array(self, at: int, path: Location, depth: int) -> tuple[list[Any], int]:
        source = self.source
        ws = _json_ws
        result: list[Any] = []
        at = ws(source, at + 1).end()
        if source[at] == "]":
            return result, at + 1
        while True:
            value, at = self._value(at, (*path, len(result)), depth + 1)
            result.append(value)
            at = ws(source, at).end()
            if source[at] == "]":
                return result, at + 1
            if source[at] != ",":
                raise _JsonInvalid(at)
            at = ws(source, at + 1).end()
