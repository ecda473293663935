"""Turn pydantic validation errors into located diagnostics that say what is wrong and what is allowed."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from compiler.diagnostics import Diagnostic, format_location
from compiler.source import SourceDocument

__all__ = ["diagnostics_from_validation_error"]

_TYPE_NAMES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string (quote it)",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}


def _describe(value: Any) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "mapping", list: "list"}.get(
        type(value), type(value).__name__
    )
    if value is None:
        return "null"
    if isinstance(value, dict | list):
        return f"a {kind}"
    text = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType) and len([m for m in get_args(tp) if m is not type(None)]) > 1


def _walk(root: type[BaseModel], data: Any, loc: tuple[Any, ...]) -> tuple[tuple[str | int, ...], str | None, Any]:
    """Follow pydantic's loc through the model and the document together.

    Returns the location in the document, a trailing key that is not in the document (a missing or
    unknown field), and the union type whose member tags were skipped last (for merged messages).
    """
    tp: Any = root
    current = data
    path: list[str | int] = []
    union: Any = None
    for i, part in enumerate(loc):
        tp = _strip_optional(tp)
        if _is_union(tp):
            # This loc element names a union member (a discriminator tag or a class name), not a key.
            union = tp
            tp = _pick_member(get_args(tp), part)
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                field = next((f for f in tp.model_fields.values() if f.alias == part), None)
            tp = field.annotation if field is not None else None
        elif get_origin(tp) in (list, tuple):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            tp = None
        if isinstance(current, dict) and isinstance(part, str) and part in current:
            current = current[part]
            path.append(part)
            union = None
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
            path.append(part)
            union = None
        elif i == len(loc) - 1 and isinstance(part, str):
            return tuple(path), part, None
        else:
            break
    return tuple(path), None, union


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """Follow pydantic's loc (with its union tags) through the model's annotations to the model there."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if isinstance(part, str) and part in tp.model_fields:
                tp = tp.model_fields[part].annotation
                continue
            return None
        origin = get_origin(tp)
        if origin in (list, tuple) and isinstance(part, int):
            tp = get_args(tp)[0]
        elif origin is dict and isinstance(part, str):
            tp = get_args(tp)[1]
        elif origin in (Union, types.UnionType):
            tp = _pick_member(get_args(tp), part)
            if tp is None:
                return None
        else:
            return None
        tp = _strip_optional(tp)
    tp = _strip_optional(_unwrap(tp))
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _strip_optional(tp: Any) -> Any:
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _pick_member(members: Iterable[Any], tag: Any) -> Any:
    for member in members:
        member = _unwrap(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            if member.__name__ == tag:
                return member
            type_field = member.model_fields.get("type")
            if type_field is not None and get_origin(type_field.annotation) is Literal:
                if tag in get_args(type_field.annotation):
                    return member
    return None


def _allowed_fields(model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = [f.alias or name for name, f in model.model_fields.items()]
    return f"; allowed: {', '.join(names)}"


def _message(error: ErrorDetails, root_model: type[BaseModel], extra_key: str | None) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    value = error.get("input")
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        return f"unknown field '{extra_key}'{_allowed_fields(_model_at(root_model, loc[:-1]))}"
    if kind == "missing":
        return f"missing required field '{extra_key}'"
    if kind == "literal_error":
        hint = " (YAML reads yes/no/on/off as booleans: quote the value)" if isinstance(value, bool) else ""
        return f"{_describe(value)} is not allowed; expected {ctx.get('expected', '')}{hint}"
    if kind == "union_tag_invalid":
        return f"unknown {ctx.get('discriminator', 'type')} {_describe(ctx.get('tag'))}; allowed: {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return f"missing '{ctx.get('discriminator', 'type')}' field"
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, got {_describe(value)}"
    if kind == "finite_number":
        return "NaN and infinity are not allowed; give a finite number"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        sign = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "")
        return f"must be {sign} {bound}, got {_describe(value)}"
    if kind == "string_pattern_mismatch":
        return f"{_describe(value)} is not allowed: must match {ctx.get('pattern')}"
    if kind in ("string_too_short", "too_short"):
        return f"must not be empty (at least {ctx.get('min_length', 1)})"
    if kind in ("string_too_long", "too_long"):
        return f"too long: at most {ctx.get('max_length')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"])).removeprefix("Value error, ")
    return error["msg"]


def _form(member: Any) -> str:
    member = _unwrap(member)
    if get_origin(member) is Literal:
        return " or ".join(repr(a) for a in get_args(member))
    if isinstance(member, type) and issubclass(member, BaseModel):
        required = [f.alias or n for n, f in member.model_fields.items() if f.is_required()]
        return "{" + ", ".join(f"{r}: ..." for r in required) + "}"
    return getattr(member, "__name__", str(member))


def _union_message(union: Any, value: Any) -> str:
    forms = [_form(m) for m in get_args(union) if m is not type(None)]
    return f"{_describe(value)} is not allowed; expected {' or '.join(forms)}"


def diagnostics_from_validation_error(
    exc: ValidationError, doc: SourceDocument, model: type[BaseModel]
) -> list[Diagnostic]:
    """One diagnostic per distinct location; union members that each reject one value give one message."""
    found: dict[tuple[tuple[str | int, ...], str | None], Diagnostic] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            data_loc, _, _ = _walk(model, doc.data, loc[:-1])
            leftover: str | None = str(loc[-1])
            union = None
        else:
            data_loc, leftover, union = _walk(model, doc.data, loc)
        key_loc = (*data_loc, leftover) if leftover is not None else data_loc
        if union is not None:
            message = _union_message(union, error.get("input"))
        else:
            message = _message(error, model, leftover)
        if (data_loc, leftover) in found:
            continue  # the same place rejected again by another union member
        pos = doc.position_of(key_loc, key=True) if error["type"] == "extra_forbidden" else doc.position_of(data_loc)
        found[(data_loc, leftover)] = Diagnostic(doc.path, pos.line, pos.col, format_location(key_loc), message)
    return sorted(found.values())
