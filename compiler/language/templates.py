"""Parameter templates: ``{name}``, dotted ``{a.b}`` lookups, ``{secret:NAME}`` references and ``{{``/``}}`` escapes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = [
    "SECRET_PREFIX",
    "MissingVariable",
    "Placeholder",
    "Template",
    "TemplateSyntaxError",
    "iter_placeholders",
    "parse_template",
    "render_value",
]

SECRET_PREFIX = "secret:"
# A path segment is a plain data key; the first one must look like a name. Anything else inside braces
# (indexing, conversions, format specs, spaces, calls) is refused, so str.format semantics never apply.
_SEGMENT = r"[A-Za-z0-9_-]+"
_REFERENCE = re.compile(rf"[A-Za-z_][A-Za-z0-9_-]*(?:\.{_SEGMENT})*\Z")
_SECRET = re.compile(r"secret:([A-Za-z0-9_.-]{1,128})\Z")


class TemplateSyntaxError(ValueError):
    """A malformed template; ``offset`` is the 0-based character index in the string."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class MissingVariable(LookupError):
    """A placeholder whose name the run context does not define."""

    def __init__(self, reference: str, missing_at: str) -> None:
        super().__init__(f"template variable '{{{reference}}}' is not defined ('{missing_at}' is missing)")
        self.reference = reference
        self.missing_at = missing_at


@dataclass(frozen=True)
class Placeholder:
    """One ``{...}`` occurrence: a dotted lookup path, or a secret reference when ``secret`` is set."""

    path: tuple[str, ...]
    offset: int
    secret: str | None = None

    @property
    def reference(self) -> str:
        return f"{SECRET_PREFIX}{self.secret}" if self.secret else ".".join(self.path)


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text pieces interleaved with placeholders."""

    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def is_single_placeholder(self) -> bool:
        return len(self.parts) == 1 and isinstance(self.parts[0], Placeholder)


@lru_cache(maxsize=4096)
def parse_template(text: str) -> Template:
    """Split ``text`` into literals and placeholders; raise TemplateSyntaxError naming what is allowed.

    Cached (a Template is immutable): validating 1,000 files and rendering every run meet the same
    strings again and again; errors are not cached and raise every time.
    """
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "{":
            if text.startswith("{{", i):
                literal.append("{")
                i += 2
                continue
            end = text.find("}", i + 1)
            if end == -1:
                raise TemplateSyntaxError("unclosed '{': write '{{' for a literal brace", i)
            inner = text[i + 1 : end]
            if "{" in inner:
                raise TemplateSyntaxError("'{' inside a placeholder: write '{{' for a literal brace", i)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_placeholder(inner, i))
            i = end + 1
        elif ch == "}":
            if text.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise TemplateSyntaxError("single '}': write '}}' for a literal brace", i)
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(tuple(parts))


def _placeholder(inner: str, offset: int) -> Placeholder:
    secret = _SECRET.match(inner)
    if secret:
        return Placeholder(path=(), offset=offset, secret=secret.group(1))
    if _REFERENCE.match(inner):
        return Placeholder(path=tuple(inner.split(".")), offset=offset)
    raise TemplateSyntaxError(
        f"invalid placeholder '{{{inner}}}': allowed are {{name}}, dotted {{a.b.c}} and {{secret:NAME}}"
        " (no indexing, conversions, format specs or spaces)",
        offset,
    )


def iter_placeholders(
    value: Any, *, at: tuple[str | int, ...] = (), report_syntax: Callable[[tuple[str | int, ...], str], None] | None = None
) -> Iterator[tuple[tuple[str | int, ...], Placeholder]]:
    """Yield ``(location, placeholder)`` for every string inside ``value`` (dict keys are not templates), locations
    starting at ``at``. A malformed string raises TemplateSyntaxError, or with ``report_syntax`` is reported (its
    location and message) and the walk goes on."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(at, value)]
    while stack:
        loc, item = stack.pop()
        if isinstance(item, str):
            if "{" in item or "}" in item:
                try:
                    found = parse_template(item).placeholders
                except TemplateSyntaxError as exc:
                    if report_syntax is None:
                        raise
                    report_syntax(loc, f"{exc} (at character {exc.offset + 1})")
                    continue
                for ph in found:
                    yield loc, ph
        elif isinstance(item, Mapping):
            stack.extend(((*loc, k), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list | tuple):
            stack.extend(((*loc, i), v) for i, v in reversed(list(enumerate(item))))


def lookup(variables: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """Read nested *keys* of plain data; never getattr, so objects expose nothing."""
    current: Any = variables
    for depth, key in enumerate(path):
        if isinstance(current, Mapping) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            raise MissingVariable(".".join(path), ".".join(path[: depth + 1]))
    return current


_PLAIN_SCALARS = (str, int, float, bool, type(None))


def _plain(value: Any, reference: str) -> Any:
    """``value`` if it is plain data throughout (what JSON holds); objects are refused, never str()-ed.

    Checked on every substituted value, also a single placeholder's (which keeps its type), so an
    object placed in the variables can neither reach an action nor be stringified by its own methods.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif not isinstance(item, _PLAIN_SCALARS):
            raise TypeError(f"template variable '{{{reference}}}' holds a {type(item).__name__}, not plain data")
    return value


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True)
    return str(value)  # int or float: _plain let nothing else through


def render_string(
    text: str, variables: Mapping[str, Any], secret: Callable[[str], str] | None = None
) -> Any:
    """Render one string in a single pass; a string that is exactly one placeholder keeps the value's type.

    Values substituted from ``variables`` are never parsed again, so a payload holding ``{secret:x}``
    or ``{run_id}`` stays literal text. ``secret`` maps a secret name to its text (display renders
    pass a function that returns the reference itself).
    """
    if "{" not in text and "}" not in text:
        return text
    template = parse_template(text)
    if template.is_single_placeholder:
        return _resolve(template.parts[0], variables, secret)  # type: ignore[arg-type]  # is_single_placeholder: a Placeholder
    out: list[str] = []
    for part in template.parts:
        out.append(part if isinstance(part, str) else _to_text(_resolve(part, variables, secret)))
    return "".join(out)


def _resolve(ph: Placeholder, variables: Mapping[str, Any], secret: Callable[[str], str] | None) -> Any:
    if ph.secret is not None:
        return secret(ph.secret) if secret else "{" + ph.reference + "}"
    return _plain(lookup(variables, ph.path), ph.reference)


def render_value(value: Any, variables: Mapping[str, Any], secret: Callable[[str], str] | None = None) -> Any:
    """Render every string inside ``value`` (dicts and lists are copied; keys are left as written)."""
    if isinstance(value, str):
        return render_string(value, variables, secret)
    if isinstance(value, Mapping):
        return {k: render_value(v, variables, secret) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(v, variables, secret) for v in value]
    return value
