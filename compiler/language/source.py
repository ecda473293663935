"""Safe loading of automation files (YAML or JSON) that remembers where every node starts."""

from __future__ import annotations

import json
import os
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, NoReturn

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

__all__ = [
    "Location",
    "Position",
    "SourceDocument",
    "SourceError",
    "SourceLimits",
    "SourceProblem",
    "load_source",
]

Location = tuple[str | int, ...]

# libyaml's parser is ~10x faster than the pure-Python one; both only ever emit events here,
# so no constructor (safe or not) runs and no Python object can be instantiated from a tag.
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LOADER_IS_C = _Loader is not yaml.SafeLoader

_YAML_SUFFIXES = frozenset({".yaml", ".yml"})
_JSON_SUFFIXES = frozenset({".json"})
_EMPTY_MESSAGE = "file is empty: expected a mapping with name, trigger and actions"
_TAB_MESSAGE = "tab character in indentation; indent with spaces"
_PLAIN_VALUES = "only plain YAML values (mappings, lists, strings, numbers, booleans, null)"


@dataclass(frozen=True, slots=True)
class Position:
    """Start of a node in the file."""

    line: int  # 1-based
    col: int  # 1-based, counted in characters (not bytes)


_new_object = object.__new__
_set_line = vars(Position)["line"].__set__  # the slot's descriptor (type checkers see the field, not the slot)
_set_col = vars(Position)["col"].__set__


def _position(line: int, col: int) -> Position:
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


class _Stop(Exception):
    """A guard tripped: what follows cannot be loaded safely, so stop with the problems so far."""


def load_source(path: str | Path, *, limits: SourceLimits = SourceLimits(), text: bytes | None = None) -> SourceDocument:
    """Raises SourceError. `text` lets callers pass bytes already read.

    The format follows the extension: .yaml/.yml is YAML, .json is JSON. A file that cannot be
    read raises the OSError unchanged, so callers can tell "missing" from "malformed".
    """
    path_str = str(path)
    suffix = Path(path_str).suffix.lower()
    if suffix not in _YAML_SUFFIXES and suffix not in _JSON_SUFFIXES:
        shown = suffix or "(none)"
        _fail(path_str, 1, 1, f"unsupported file extension '{shown}': use .yaml, .yml or .json")
    raw = _read(path_str, limits) if text is None else text
    if len(raw) > limits.max_bytes:
        _fail(path_str, 1, 1, f"file is {len(raw)} bytes; the limit is {limits.max_bytes} bytes")
    source = _decode(path_str, raw)
    loaded = _JsonLoader(source, limits).load() if suffix in _JSON_SUFFIXES else _YamlLoader(source, limits).load()
    data, value_positions, key_positions, problems = loaded
    if problems:
        problems.sort(key=lambda p: (p.line, p.col))
        raise SourceError(problems, path_str)
    return SourceDocument(path_str, data, value_positions, key_positions)


def _fail(path: str, line: int, col: int, message: str) -> NoReturn:
    raise SourceError([SourceProblem(line, col, message)], path)


def _read(path: str, limits: SourceLimits) -> bytes:
    with open(path, "rb") as handle:
        # A huge file is rejected without loading it all. (read(limit + 1) would allocate the whole
        # limit, 1 MB, for every file: measured as half of the time spent reading 1,000 files.)
        size = os.fstat(handle.fileno()).st_size
        raw = handle.read(limits.max_bytes + 1) if size > limits.max_bytes else handle.read()
        if len(raw) > limits.max_bytes:
            _fail(path, 1, 1, f"file is {max(size, len(raw))} bytes; the limit is {limits.max_bytes} bytes")
    return raw


def _decode(path: str, raw: bytes) -> str:
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
        line_start = raw.rfind(b"\n", 0, offset) + 1
        line = raw.count(b"\n", 0, offset) + 1
        # Everything before the first bad byte is valid, so its decoded length is the column.
        col = len(raw[line_start:offset].decode("utf-8")) + 1
        _fail(path, line, col, f"file is not valid UTF-8 (byte 0x{raw[offset]:02x} at offset {offset}); save it as UTF-8")
    # A BOM is legal UTF-8 but json.loads rejects it and it would shift line-1 columns.
    return source[1:] if source.startswith("\ufeff") else source


def _position_of_offset(line_starts: list[int], offset: int) -> tuple[int, int]:
    index = bisect_right(line_starts, offset) - 1
    return index + 1, offset - line_starts[index] + 1


def _line_starts(source: str) -> list[int]:
    starts = [0]
    find = source.find
    at = find("\n")
    while at != -1:
        starts.append(at + 1)
        at = find("\n", at + 1)
    return starts


# --- YAML ---------------------------------------------------------------------------------------

_YAML_TAG = "tag:yaml.org,2002:"
_STR_TAG = _YAML_TAG + "str"
_MAP_TAG = _YAML_TAG + "map"
_SEQ_TAG = _YAML_TAG + "seq"

# YAML 1.1 plain scalars, exactly as yaml.safe_load resolves them (yaml/resolver.py), except that
# timestamps stay strings (downstream is JSON-like) and '=' (the !!value tag) is just a string.
_PLAIN_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(["yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"], True),
    **dict.fromkeys(["no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"], False),
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], None),
}
_NUMBER_START = frozenset("-+0123456789.")
_INT_RE = re.compile(
    r"""^(?:[-+]?0b[0-1_]+
    |[-+]?0[0-7_]+
    |[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+
    |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$""",
    re.X,
)
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_MISSING = object()


def _resolve_plain(value: str) -> Any:
    """Untagged plain scalar -> Python value (bool/null words, YAML 1.1 numbers, else the string)."""
    constant = _PLAIN_CONSTANTS.get(value, _MISSING)
    if constant is not _MISSING:
        return constant
    if value[0] not in _NUMBER_START:
        return value
    if value.isascii() and value.isdigit() and (value[0] != "0" or len(value) == 1):
        return int(value)  # the common case, without a regex
    if _INT_RE.match(value):
        number = _to_int(value)
        return value if number is None else number
    if _FLOAT_RE.match(value):
        real = _to_float(value)
        return value if real is None else real
    return value


def _to_int(value: str) -> int | None:
    """yaml SafeConstructor.construct_yaml_int, returning None instead of raising."""
    text = value.replace("_", "")
    sign = -1 if text[:1] == "-" else 1
    if text[:1] in ("-", "+"):
        text = text[1:]
    try:
        if text == "0":
            return 0
        if text.startswith("0b"):
            return sign * int(text[2:], 2)
        if text.startswith("0x"):
            return sign * int(text[2:], 16)
        if text[:1] == "0":
            return sign * int(text, 8)
        if ":" in text:
            total = 0
            for part in text.split(":"):
                total = total * 60 + int(part)
            return sign * total
        return sign * int(text)
    except ValueError:  # empty digits, or more digits than Python will convert
        return None


def _to_float(value: str) -> float | None:
    """yaml SafeConstructor.construct_yaml_float, returning None instead of raising."""
    text = value.replace("_", "").lower()
    sign = -1.0 if text[:1] == "-" else 1.0
    if text[:1] in ("-", "+"):
        text = text[1:]
    try:
        if text == ".inf":
            return sign * float("inf")
        if text == ".nan":
            return float("nan")
        if ":" in text:
            total = 0.0
            for part in text.split(":"):
                total = total * 60 + float(part)
            return sign * total
        return sign * float(text)
    except ValueError:
        return None


def _to_bool(value: str) -> bool | None:
    constant = _PLAIN_CONSTANTS.get(value.lower(), _MISSING)
    return constant if isinstance(constant, bool) else None


_SCALAR_TAGS: dict[str, tuple[str, Any]] = {
    _YAML_TAG + "int": ("an integer", _to_int),
    _YAML_TAG + "float": ("a number", _to_float),
    _YAML_TAG + "bool": ("a boolean", _to_bool),
}
_STANDARD_KINDS = {
    _STR_TAG: "a scalar",
    _YAML_TAG + "int": "a scalar",
    _YAML_TAG + "float": "a scalar",
    _YAML_TAG + "bool": "a scalar",
    _YAML_TAG + "null": "a scalar",
    _MAP_TAG: "a mapping",
    _SEQ_TAG: "a list",
}


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_YAML_TAG) :] if tag.startswith(_YAML_TAG) else tag


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


_MAP, _SEQ, _ROOT = 0, 1, 2
_NO_KEY = object()  # mapping frame is waiting for a key
_BAD_KEY = object()  # key was rejected: its value is checked but not stored
_MERGE_KEY = object()  # key was '<<': its value is merged into the mapping


class _Frame:
    """An open mapping or sequence (or the document root) while events stream in."""

    __slots__ = ("anchor", "data", "is_key", "key", "key_lines", "key_path", "kind", "mark", "merges", "path", "start_nodes")

    def __init__(self, kind: int, data: Any, path: Location | None, anchor: str | None, start_nodes: int, mark: Any, is_key: bool) -> None:
        self.kind = kind
        self.data = data
        self.path = path  # None: inside a rejected key or a merge value, where positions are not recorded
        self.key: Any = _NO_KEY
        self.key_path: Location | None = None
        self.key_lines: dict[str, int] = {}
        self.merges: list[tuple[dict[str, Any], Any]] = []
        self.anchor = anchor
        self.start_nodes = start_nodes
        self.mark = mark
        self.is_key = is_key


class _YamlLoader:
    """Builds plain data straight from parser events in one pass.

    Working on events (not composed nodes) is what lets us see each alias with its own position,
    count alias expansions without performing them, and never run a YAML constructor.
    """

    def __init__(self, source: str, limits: SourceLimits) -> None:
        self.source = source
        self.limits = limits
        self.problems: list[SourceProblem] = []
        self.value_positions: dict[Location, Position] = {}
        self.key_positions: dict[Location, Position] = {}
        self.nodes = 0
        self.aliases = 0
        # anchor name -> (value, node count of the anchored subtree including its own aliases)
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.anchor_lines: dict[str, int] = {}
        self.open_anchors: set[str] = set()
        self.tab_lines = _tab_lines(source)

    def problem(self, mark: Any, message: str) -> None:
        self.problems.append(SourceProblem(mark.line + 1, mark.column + 1, message))

    def load(self) -> tuple[Any, dict[Location, Position], dict[Location, Position], list[SourceProblem]]:
        loader: Any = None
        data: Any = None
        try:
            loader = _Loader(self.source)  # the pure-Python reader checks characters right here
            data = self._document(loader)
        except _Stop:
            return data, self.value_positions, self.key_positions, self.problems
        except yaml.MarkedYAMLError as exc:
            self._syntax_problem(exc)  # also decides whether a tab caused it
            return data, self.value_positions, self.key_positions, self.problems
        except yaml.reader.ReaderError as exc:
            self._reader_problem(exc)
            return data, self.value_positions, self.key_positions, self.problems
        finally:
            if loader is not None:
                loader.dispose()
        if self.tab_lines:
            self._check_tabs()
        return data, self.value_positions, self.key_positions, self.problems

    def _document(self, loader: Any) -> Any:
        get_event = loader.get_event
        get_event()  # StreamStartEvent
        event = get_event()
        if event.__class__ is StreamEndEvent:
            self.problems.append(SourceProblem(1, 1, _EMPTY_MESSAGE))
            return None
        first = get_event()
        if first.__class__ is ScalarEvent and first.value == "" and first.implicit[0] and first.tag is None and first.anchor is None:
            # '---' with nothing after it (maybe comments): as empty as a blank file.
            self.problems.append(SourceProblem(1, 1, _EMPTY_MESSAGE))
            return None
        data = self._content(chain((first,), iter(get_event, None)))
        following = get_event()
        if following.__class__ is DocumentStartEvent:
            self.problem(following.start_mark, "file holds more than one YAML document; put one automation per file")
        return data

    def _content(self, events: Any) -> Any:
        """The hot loop: one iteration per event, no recursion, positions recorded as we go."""
        limits = self.limits
        max_nodes = limits.max_nodes
        max_depth = limits.max_depth
        value_positions = self.value_positions
        key_positions = self.key_positions
        resolve_plain = _resolve_plain
        root = _Frame(_ROOT, None, (), None, 0, None, False)
        stack = [root]
        top = root
        nodes = 0
        for event in events:
            cls = event.__class__
            if cls is ScalarEvent:
                nodes += 1
                if nodes > max_nodes:
                    self.nodes = nodes
                    self._too_many_nodes(event.start_mark, alias=False)
                tag = event.tag
                if tag is None or tag == "!":
                    value = resolve_plain(event.value) if event.implicit[0] else event.value
                else:
                    value = self._tagged_scalar(event)
                if event.anchor is not None:
                    self._define_anchor(event.anchor, event.start_mark)
                    self.anchors[event.anchor] = (value, 1)
                mark = event.start_mark
                if top.kind == _MAP:
                    if top.key is _NO_KEY:
                        path: Location | None = top.path
                        if value.__class__ is str and path is not None and value not in top.key_lines and value != "<<":
                            # The common case, inlined: a new string key in a recorded mapping.
                            line = mark.line + 1
                            top.key_lines[value] = line
                            top.key = value
                            key_path = (*path, value)
                            top.key_path = key_path
                            key_positions[key_path] = _position(line, mark.column + 1)
                        elif value == "<<" and tag is None and event.implicit[0]:
                            top.key = _MERGE_KEY
                            top.key_path = None  # merged entries are positioned when the mapping ends
                        else:
                            self._set_key(top, value, mark)
                        continue
                    value_path = top.key_path
                    if value_path is not None:
                        value_positions[value_path] = _position(mark.line + 1, mark.column + 1)
                    key = top.key
                    if key.__class__ is str:
                        top.data[key] = value
                        top.key = _NO_KEY
                    else:
                        self._attach(top, value, mark)
                elif top.kind == _SEQ:
                    path = top.path
                    if path is not None:
                        value_positions[(*path, len(top.data))] = _position(mark.line + 1, mark.column + 1)
                    top.data.append(value)
                else:
                    value_positions[()] = _position(mark.line + 1, mark.column + 1)
                    root.data = value
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                nodes += 1
                mark = event.start_mark
                if nodes > max_nodes:
                    self.nodes = nodes
                    self._too_many_nodes(mark, alias=False)
                if len(stack) > max_depth:
                    self.problem(mark, f"nesting is deeper than {max_depth} levels; flatten the structure")
                    raise _Stop
                is_map = cls is MappingStartEvent
                tag = event.tag
                if tag is not None and tag != "!" and tag != (_MAP_TAG if is_map else _SEQ_TAG):
                    self._bad_tag(tag, mark, "a mapping" if is_map else "a list")
                is_key = False
                if top.kind == _MAP:
                    if top.key is _NO_KEY:
                        # A mapping or list used as a key ('? [a, b]' or '{[a]: 1}').
                        self.problem(mark, f"keys must be strings; got a {'mapping' if is_map else 'list'} — use a plain string key")
                        top.key = _BAD_KEY
                        top.key_path = None
                        is_key = True
                        path = None
                    else:
                        path = top.key_path
                elif top.kind == _SEQ:
                    path = None if top.path is None else (*top.path, len(top.data))
                else:
                    path = ()
                if path is not None:
                    value_positions[path] = _position(mark.line + 1, mark.column + 1)
                anchor = event.anchor
                if anchor is not None:
                    self._define_anchor(anchor, mark)
                    self.open_anchors.add(anchor)
                top = _Frame(_MAP if is_map else _SEQ, {} if is_map else [], path, anchor, nodes, mark, is_key)
                stack.append(top)
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                done = stack.pop()
                top = stack[-1]
                value = self._merged(done) if done.merges else done.data
                if done.anchor is not None:
                    self.anchors[done.anchor] = (value, nodes - done.start_nodes + 1)
                    self.open_anchors.discard(done.anchor)
                if not done.is_key:
                    self._attach(top, value, done.mark)
            elif cls is AliasEvent:
                self.nodes = nodes
                value = self._alias(event)
                nodes = self.nodes
                mark = event.start_mark
                if top.kind == _MAP and top.key is _NO_KEY:
                    self._set_key(top, value, mark)
                    continue
                if top.kind == _MAP:
                    path = top.key_path
                elif top.kind == _SEQ:
                    path = None if top.path is None else (*top.path, len(top.data))
                else:
                    path = ()
                if path is not None:
                    value_positions[path] = _position(mark.line + 1, mark.column + 1)
                self._attach(top, value, mark)
            elif cls is DocumentEndEvent:
                break
        self.nodes = nodes
        return root.data

    def _set_key(self, frame: _Frame, key: Any, mark: Any) -> None:
        if not isinstance(key, str):
            shown = self._source_text(mark)
            if isinstance(key, (dict, list)):  # only reachable through an alias: '*anchor: value'
                message = f"keys must be strings; got {_type_name(key)} {shown} — use a plain string key"
            elif key is None and not shown:
                message = "keys must be strings; got an empty key — write a name before ':'"
            else:
                message = f"keys must be strings; got {_type_name(key)} {shown} — quote it"
            self.problem(mark, message)
            frame.key = _BAD_KEY
            frame.key_path = None
            return
        line = mark.line + 1
        first = frame.key_lines.get(key)
        if first is not None:
            self.problem(mark, f"duplicate key '{key}' (first defined at line {first})")
        else:
            frame.key_lines[key] = line
        frame.key = key
        path = frame.path
        if path is None:
            frame.key_path = None
        else:
            key_path = (*path, key)
            frame.key_path = key_path
            if first is None:
                self.key_positions[key_path] = _position(line, mark.column + 1)

    def _attach(self, frame: _Frame, value: Any, mark: Any) -> None:
        kind = frame.kind
        if kind == _SEQ:
            frame.data.append(value)
            return
        if kind == _ROOT:
            frame.data = value
            return
        key = frame.key
        frame.key = _NO_KEY
        if key is _MERGE_KEY:
            self._add_merge(frame, value, mark)
        elif key is not _BAD_KEY:
            frame.data[key] = value

    def _add_merge(self, frame: _Frame, value: Any, mark: Any) -> None:
        # yaml.safe_load semantics: in '<<: [*a, *b]' earlier entries win, and explicit keys win over all.
        sources = [value] if isinstance(value, dict) else list(reversed(value)) if isinstance(value, list) else None
        if sources is None or not all(isinstance(source, dict) for source in sources):
            self.problem(mark, f"merge key '<<' takes a mapping or a list of mappings; got {_type_name(value)}")
            return
        frame.merges.extend((source, mark) for source in sources)

    def _merged(self, frame: _Frame) -> dict[str, Any]:
        explicit = frame.data
        merged: dict[str, Any] = {}
        origin: dict[str, Any] = {}
        for source, mark in frame.merges:
            merged.update(source)
            for key in source:
                origin[key] = mark
        merged.update(explicit)
        if frame.path is not None:
            # Merged entries have no key of their own in this mapping: point at the '<<' value.
            for key, mark in origin.items():
                if key not in explicit:
                    position = _position(mark.line + 1, mark.column + 1)
                    self.value_positions[(*frame.path, key)] = position
                    self.key_positions[(*frame.path, key)] = position
        return merged

    def _alias(self, event: Any) -> Any:
        name = event.anchor
        mark = event.start_mark
        self.aliases += 1
        if self.aliases == self.limits.max_aliases + 1:
            self.problem(mark, f"more than {self.limits.max_aliases} aliases (*name) in one file; repeat the values instead")
        found = self.anchors.get(name)
        if found is None:
            if name in self.open_anchors:
                self.problem(mark, f"alias '*{name}' refers to a value that contains it; recursive structures are not allowed")
            else:
                self.problem(mark, f"alias '*{name}' is not defined; define '&{name}' on a value before using it")
            self.nodes += 1
            return None
        value, size = found
        self.nodes += size
        if self.nodes > self.limits.max_nodes:
            self._too_many_nodes(mark, alias=True)
        return value

    def _too_many_nodes(self, mark: Any, *, alias: bool) -> NoReturn:
        limit = self.limits.max_nodes
        if alias:
            self.problem(mark, f"document expands to more than {limit} nodes through aliases (alias bomb?); use fewer aliases")
        else:
            self.problem(mark, f"document has more than {limit} nodes; split it into smaller files")
        raise _Stop

    def _define_anchor(self, name: str, mark: Any) -> None:
        first = self.anchor_lines.get(name)
        if first is not None:
            self.problem(mark, f"duplicate anchor '&{name}' (first defined at line {first}); anchor names must be unique")
        else:
            self.anchor_lines[name] = mark.line + 1

    def _tagged_scalar(self, event: Any) -> Any:
        tag = event.tag
        value = event.value
        if tag == _STR_TAG:
            return value
        if tag == _YAML_TAG + "null":
            return None
        converter = _SCALAR_TAGS.get(tag)
        if converter is None:
            self._bad_tag(tag, event.start_mark, "a scalar")
            return value
        what, convert = converter
        result = convert(value) if value else None
        if result is None:
            self.problem(event.start_mark, f"'{value}' is not {what}, as tag '{_short_tag(tag)}' requires")
            return value
        return result

    def _bad_tag(self, tag: str, mark: Any, kind: str) -> None:
        line, col = self._tag_position(mark)
        fits = _STANDARD_KINDS.get(tag)
        if fits is not None:
            message = f"tag '{_short_tag(tag)}' is for {fits}, not {kind}; remove the tag"
        else:
            message = f"tag '{_short_tag(tag)}' is not allowed; {_PLAIN_VALUES}"
        self.problems.append(SourceProblem(line, col, message))

    def _tag_position(self, mark: Any) -> tuple[int, int]:
        """A node's mark is at its first property, which may be an anchor: find the '!' itself."""
        source = self.source
        end = source.find("\n", mark.index)
        bang = source.find("!", mark.index, len(source) if end == -1 else end)
        column = mark.column if bang == -1 else mark.column + (bang - mark.index)
        return mark.line + 1, column + 1

    def _source_text(self, mark: Any) -> str:
        """The key as written (up to ':' or end of line), for messages like 'got int 1'."""
        source = self.source
        end = source.find("\n", mark.index)
        line = source[mark.index : len(source) if end == -1 else end]
        cut = line.find(": ")
        if cut == -1:
            cut = len(line) - 1 if line.endswith(":") else len(line)
        return line[:cut].strip()

    def _syntax_problem(self, exc: yaml.MarkedYAMLError) -> None:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line, mark.column) if mark is not None else (0, 0)
        tab_col = self.tab_lines.get(line)
        if tab_col is not None and tab_col <= col:
            # libyaml calls a tab indent "found character that cannot start any token": say what it is.
            self.problems.append(SourceProblem(line + 1, tab_col + 1, _TAB_MESSAGE))
            return
        message = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.problem and exc.context and exc.context_mark is not None:
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        self.problems.append(SourceProblem(line + 1, col + 1, message))

    def _reader_problem(self, exc: yaml.reader.ReaderError) -> None:
        # libyaml reports a byte offset into the UTF-8 text; the pure-Python reader a character offset.
        offset = exc.position
        if _LOADER_IS_C:
            offset = len(self.source.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))
        line, col = _position_of_offset(_line_starts(self.source), offset)
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"control character 0x{character:02x} is not allowed in YAML; remove it, or write it as an escape inside double quotes"
        self.problems.append(SourceProblem(line, col, message))

    def _check_tabs(self) -> None:
        """Tabs that survived parsing are fine inside multi-line scalars; anywhere else they indent."""
        spans: list[tuple[int, int, int]] = []
        loader = _Loader(self.source)
        try:
            while loader.check_event():
                event = loader.get_event()
                start, end = event.start_mark, event.end_mark
                if event.__class__ is ScalarEvent and start is not None and end is not None and end.line > start.line:
                    spans.append((start.line, end.line, end.column))
        except yaml.YAMLError:
            pass  # a second document that does not parse: already reported, and the spans so far suffice
        finally:
            loader.dispose()
        for line, tab_col in sorted(self.tab_lines.items()):
            inside = any(start < line and (line < end or (line == end and end_col > tab_col)) for start, end, end_col in spans)
            if not inside:
                self.problems.append(SourceProblem(line + 1, tab_col + 1, _TAB_MESSAGE))


def _tab_lines(source: str) -> dict[int, int]:
    """0-based line -> 0-based column of the first tab in that line's indentation (non-blank lines only)."""
    if "\t" not in source:
        return {}
    found: dict[int, int] = {}
    for number, line in enumerate(source.split("\n")):
        if "\t" not in line:
            continue
        content = line.lstrip(" \t")
        if not content.strip("\r") or content.startswith("#"):
            continue  # blank or comment-only lines indent nothing
        indent = line[: len(line) - len(content)]
        if "\t" in indent:
            found[number] = indent.index("\t")
    return found


# --- JSON ---------------------------------------------------------------------------------------

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


class _JsonLoader:
    """A JSON reader with json.loads semantics that also records positions and duplicate keys.

    Reusing the YAML parser for JSON would give YAML's answers (1e5 is a string there, surrogate
    escapes are rejected, keys are limited to 1024 characters), so JSON gets its own small walker.
    """

    def __init__(self, source: str, limits: SourceLimits) -> None:
        self.source = source
        self.limits = limits
        self.line_starts = _line_starts(source)
        self.problems: list[SourceProblem] = []
        self.value_positions: dict[Location, Position] = {}
        self.key_positions: dict[Location, Position] = {}
        self.nodes = 0

    def load(self) -> tuple[Any, dict[Location, Position], dict[Location, Position], list[SourceProblem]]:
        source = self.source
        if not source.strip(" \t\n\r"):
            return None, {}, {}, [SourceProblem(1, 1, _EMPTY_MESSAGE)]
        data: Any = None
        try:
            start = _json_ws(source, 0).end()
            data, end = self._value(start, (), 1)
            if _json_ws(source, end).end() != len(source):
                raise _JsonInvalid(end)
        except _Stop:
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
        line, col = _position_of_offset(self.line_starts, offset)
        return Position(line, col)

    def _count(self, offset: int) -> None:
        self.nodes += 1
        if self.nodes > self.limits.max_nodes:
            self._problem(offset, f"document has more than {self.limits.max_nodes} nodes; split it into smaller files")
            raise _Stop

    def _problem(self, offset: int, message: str) -> None:
        line, col = _position_of_offset(self.line_starts, offset)
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
                raise _Stop
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
