"""The YAML loader: plain data built straight from parser events, with positions, guards and located problems."""

from __future__ import annotations

from itertools import chain
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

from compiler.language.source.document import (
    EMPTY_MESSAGE,
    Location,
    Position,
    SourceLimits,
    SourceProblem,
    Stop,
    fast_position,
    line_starts,
    position_of_offset,
)
from compiler.language.source.yaml_scalars import (
    MAP_TAG,
    NULL_TAG,
    SCALAR_TAGS,
    SEQ_TAG,
    STANDARD_KINDS,
    STR_TAG,
    resolve_plain,
    short_tag,
    type_name,
)

# libyaml's parser is ~10x faster than the pure-Python one; both only ever emit events here,
# so no constructor (safe or not) runs and no Python object can be instantiated from a tag.
_Loader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_LOADER_IS_C = _Loader is not yaml.SafeLoader

_TAB_MESSAGE = "tab character in indentation; indent with spaces"
_PLAIN_VALUES = "only plain YAML values (mappings, lists, strings, numbers, booleans, null)"

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


class YamlLoader:
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
        except Stop:
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
            self.problems.append(SourceProblem(1, 1, EMPTY_MESSAGE))
            return None
        first = get_event()
        if first.__class__ is ScalarEvent and first.value == "" and first.implicit[0] and first.tag is None and first.anchor is None:
            # '---' with nothing after it (maybe comments): as empty as a blank file.
            self.problems.append(SourceProblem(1, 1, EMPTY_MESSAGE))
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
        resolve = resolve_plain  # a local name: the hot loop below looks it up per scalar
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
                if tag is None or tag == "!":  # noqa: SIM108 - a conditional inside a conditional expression reads worse
                    value = resolve(event.value) if event.implicit[0] else event.value
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
                            key_positions[key_path] = fast_position(line, mark.column + 1)
                        elif value == "<<" and tag is None and event.implicit[0]:
                            top.key = _MERGE_KEY
                            top.key_path = None  # merged entries are positioned when the mapping ends
                        else:
                            self._set_key(top, value, mark)
                        continue
                    value_path = top.key_path
                    if value_path is not None:
                        value_positions[value_path] = fast_position(mark.line + 1, mark.column + 1)
                    key = top.key
                    if key.__class__ is str:
                        top.data[key] = value
                        top.key = _NO_KEY
                    else:
                        self._attach(top, value, mark)
                elif top.kind == _SEQ:
                    path = top.path
                    if path is not None:
                        value_positions[(*path, len(top.data))] = fast_position(mark.line + 1, mark.column + 1)
                    top.data.append(value)
                else:
                    value_positions[()] = fast_position(mark.line + 1, mark.column + 1)
                    root.data = value
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                nodes += 1
                mark = event.start_mark
                if nodes > max_nodes:
                    self.nodes = nodes
                    self._too_many_nodes(mark, alias=False)
                if len(stack) > max_depth:
                    self.problem(mark, f"nesting is deeper than {max_depth} levels; flatten the structure")
                    raise Stop
                is_map = cls is MappingStartEvent
                tag = event.tag
                if tag is not None and tag != "!" and tag != (MAP_TAG if is_map else SEQ_TAG):
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
                    value_positions[path] = fast_position(mark.line + 1, mark.column + 1)
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
                    value_positions[path] = fast_position(mark.line + 1, mark.column + 1)
                self._attach(top, value, mark)
            elif cls is DocumentEndEvent:
                break
        self.nodes = nodes
        return root.data

    def _set_key(self, frame: _Frame, key: Any, mark: Any) -> None:
        if not isinstance(key, str):
            shown = self._source_text(mark)
            if isinstance(key, (dict, list)):  # only reachable through an alias: '*anchor: value'
                message = f"keys must be strings; got {type_name(key)} {shown} — use a plain string key"
            elif key is None and not shown:
                message = "keys must be strings; got an empty key — write a name before ':'"
            else:
                message = f"keys must be strings; got {type_name(key)} {shown} — quote it"
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
                self.key_positions[key_path] = fast_position(line, mark.column + 1)

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
            self.problem(mark, f"merge key '<<' takes a mapping or a list of mappings; got {type_name(value)}")
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
                    position = fast_position(mark.line + 1, mark.column + 1)
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
        raise Stop

    def _define_anchor(self, name: str, mark: Any) -> None:
        first = self.anchor_lines.get(name)
        if first is not None:
            self.problem(mark, f"duplicate anchor '&{name}' (first defined at line {first}); anchor names must be unique")
        else:
            self.anchor_lines[name] = mark.line + 1

    def _tagged_scalar(self, event: Any) -> Any:
        tag = event.tag
        value = event.value
        if tag == STR_TAG:
            return value
        if tag == NULL_TAG:
            return None
        converter = SCALAR_TAGS.get(tag)
        if converter is None:
            self._bad_tag(tag, event.start_mark, "a scalar")
            return value
        what, convert = converter
        result = convert(value) if value else None
        if result is None:
            self.problem(event.start_mark, f"'{value}' is not {what}, as tag '{short_tag(tag)}' requires")
            return value
        return result

    def _bad_tag(self, tag: str, mark: Any, kind: str) -> None:
        line, col = self._tag_position(mark)
        fits = STANDARD_KINDS.get(tag)
        if fits is not None:
            message = f"tag '{short_tag(tag)}' is for {fits}, not {kind}; remove the tag"
        else:
            message = f"tag '{short_tag(tag)}' is not allowed; {_PLAIN_VALUES}"
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
        line, col = position_of_offset(line_starts(self.source), offset)
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

