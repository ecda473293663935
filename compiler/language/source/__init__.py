"""Safe loading of automation files (YAML or JSON) that remembers where every node starts.

Stages: read and decode (``document``), then one loader per format (``yaml_loader`` with the YAML 1.1
scalar rules of ``yaml_scalars``, ``json_loader``); both return plain data, positions and problems.
"""

from __future__ import annotations

from pathlib import Path

from compiler.language.source.document import (
    Location,
    Position,
    SourceDocument,
    SourceError,
    SourceLimits,
    SourceProblem,
    decode,
    fail,
    read_limited,
)
from compiler.language.source.json_loader import JsonLoader
from compiler.language.source.yaml_loader import YamlLoader

__all__ = ["Location", "Position", "SourceDocument", "SourceError", "SourceLimits", "SourceProblem", "load_source"]

_YAML_SUFFIXES = frozenset({".yaml", ".yml"})
_JSON_SUFFIXES = frozenset({".json"})


def load_source(path: str | Path, *, limits: SourceLimits = SourceLimits(), text: bytes | None = None) -> SourceDocument:
    """Raises SourceError. `text` lets callers pass bytes already read.

    The format follows the extension: .yaml/.yml is YAML, .json is JSON. A file that cannot be
    read raises the OSError unchanged, so callers can tell "missing" from "malformed".
    """
    path_str = str(path)
    suffix = Path(path_str).suffix.lower()
    if suffix not in _YAML_SUFFIXES and suffix not in _JSON_SUFFIXES:
        shown = suffix or "(none)"
        fail(path_str, 1, 1, f"unsupported file extension '{shown}': use .yaml, .yml or .json")
    raw = read_limited(path_str, limits) if text is None else text
    if len(raw) > limits.max_bytes:
        fail(path_str, 1, 1, f"file is {len(raw)} bytes; the limit is {limits.max_bytes} bytes")
    source = decode(path_str, raw)
    loaded = JsonLoader(source, limits).load() if suffix in _JSON_SUFFIXES else YamlLoader(source, limits).load()
    data, value_positions, key_positions, problems = loaded
    if problems:
        problems.sort(key=lambda p: (p.line, p.col))
        raise SourceError(problems, path_str)
    return SourceDocument(path_str, data, value_positions, key_positions)

