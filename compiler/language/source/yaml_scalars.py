"""YAML 1.1 plain scalars resolved exactly as ``yaml.safe_load`` does (booleans, null, numbers), and tag names."""

from __future__ import annotations

import re
from typing import Any

YAML_TAG = "tag:yaml.org,2002:"
STR_TAG = YAML_TAG + "str"
MAP_TAG = YAML_TAG + "map"
SEQ_TAG = YAML_TAG + "seq"
NULL_TAG = YAML_TAG + "null"

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


def resolve_plain(value: str) -> Any:
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


SCALAR_TAGS: dict[str, tuple[str, Any]] = {
    YAML_TAG + "int": ("an integer", _to_int),
    YAML_TAG + "float": ("a number", _to_float),
    YAML_TAG + "bool": ("a boolean", _to_bool),
}
STANDARD_KINDS = {
    STR_TAG: "a scalar",
    YAML_TAG + "int": "a scalar",
    YAML_TAG + "float": "a scalar",
    YAML_TAG + "bool": "a scalar",
    NULL_TAG: "a scalar",
    MAP_TAG: "a mapping",
    SEQ_TAG: "a list",
}


def short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG) :] if tag.startswith(YAML_TAG) else tag


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__

