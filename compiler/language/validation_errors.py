"""Turn pydantic validation errors into located diagnostics that say what is wrong and what is allowed."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, JsonValue, ValidationError
from pydantic_core import ErrorDetails

from compiler.language.diagnostics import Diagnostic, format_location
from compiler.language.source import SourceDocument

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


# JsonValue is a tagged union whose tags (list, dict, str, float …) appear in pydantic's loc.
_JSON_VALUE_TAGS: dict[str, Any] = {"list": list[JsonValue], "dict": dict[str, JsonValue]}


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType) and len([m for m in get_args(tp) if m is not type(None)]) > 1


def _child_type(tp: Any, part: Any) -> Any:
    """The type one loc element below ``tp`` (a field, list item or dict value); None when unknown."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            field = next((f for f in tp.model_fields.values() if f.alias == part), None)
        return field.annotation if field is not None else None
    if get_origin(tp) in (list, tuple):
        return get_args(tp)[0]
    if get_origin(tp) is dict:
        return get_args(tp)[1]
    return None


def _union_points(root: type[BaseModel], loc: tuple[Any, ...]) -> list[tuple[int, Any]]:
    """(index in loc, union) for every loc element that names a union member rather than a key."""
    tp: Any = root
    points: list[tuple[int, Any]] = []
    for i, part in enumerate(loc):
        if tp is JsonValue:
            tp = _JSON_VALUE_TAGS.get(part)
            continue
        tp = _strip_optional(tp)
        if _is_union(tp):
            points.append((i, tp))
            tp = _pick_member(get_args(tp), part)
        else:
            tp = _child_type(tp, part)
    return points


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
        if tp is JsonValue:
            # This loc element is JsonValue's tag, not a key: step into the tagged member.
            tp = _JSON_VALUE_TAGS.get(part)
            continue
        tp = _strip_optional(tp)
        if _is_union(tp):
            # This loc element names a union member (a discriminator tag or a class name), not a key.
            union = tp
            tp = _pick_member(get_args(tp), part)
            continue
        tp = _child_type(tp, part)
        in_dict = isinstance(current, dict) and isinstance(part, str) and part in current
        if in_dict or (isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)):
            current = current[part]
            path.append(part)
            union = None
        elif i == len(loc) - 1 and isinstance(part, str) and isinstance(current, dict):
            # Only a mapping can miss a key; after a scalar a trailing element is a union tag.
            return tuple(path), part, None
        else:
            break
    return tuple(path), None, union


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _type_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """Follow pydantic's loc (with its union tags) through the model's annotations to the type there."""
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
    return _strip_optional(_unwrap(tp))


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    tp = _type_at(model, loc)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _strip_optional(tp: Any) -> Any:
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return tp


def _pick_member(members: Iterable[Any], tag: Any) -> Any:
    for wrapped in members:
        member = _unwrap(wrapped)
        if isinstance(member, type) and issubclass(member, BaseModel):
            if member.__name__ == tag:
                return member
            type_field = member.model_fields.get("type")
            if type_field is not None and get_origin(type_field.annotation) is Literal and tag in get_args(type_field.annotation):
                return member
    return None


def _allowed_fields(model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = [f.alias or name for name, f in model.model_fields.items()]
    return f"; allowed: {', '.join(names)}"


def _discriminator(ctx: dict[str, Any]) -> str:
    # pydantic quotes the discriminator name itself ("'type'"); the messages quote what they need.
    return str(ctx.get("discriminator", "type")).strip("'")


def _tags_of(union: Any, discriminator: str) -> str:
    """The tags a discriminated union accepts, listed as pydantic lists them in union_tag_invalid."""
    tags = [repr(tag) for member in get_args(_unwrap(union)) for tag in _literal_tags(member, discriminator)]
    return ", ".join(tags)


def _literal_tags(member: Any, discriminator: str) -> tuple[Any, ...]:
    member = _unwrap(member)
    if isinstance(member, type) and issubclass(member, BaseModel) and discriminator in member.model_fields:
        annotation = member.model_fields[discriminator].annotation
        if get_origin(annotation) is Literal:
            return get_args(annotation)
    return ()


def _number(bound: Any) -> str:
    # Float fields report their bounds as floats ("> 0.0"); show them as written in the model.
    return str(int(bound)) if isinstance(bound, float) and bound.is_integer() else str(bound)


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
        return f"unknown {_discriminator(ctx)} '{ctx.get('tag')}'; allowed: {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        allowed = _tags_of(_type_at(root_model, loc), _discriminator(ctx))
        return f"missing required field '{_discriminator(ctx)}'" + (f"; allowed: {allowed}" if allowed else "")
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, got {_describe(value)}"
    if kind == "finite_number":
        return "NaN and infinity are not allowed; give a finite number"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        sign = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        return f"must be {sign} {_number(next(iter(ctx.values()), ''))}, got {_describe(value)}"
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
    return _PLAIN_FORMS.get(member, getattr(member, "__name__", str(member)))


_PLAIN_FORMS: dict[Any, str] = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _union_message(union: Any, value: Any) -> str:
    forms = " or ".join(_form(m) for m in get_args(union) if m is not type(None))
    if isinstance(value, dict):
        # "a mapping is not allowed" would be wrong when some forms are mappings: name the keys instead.
        keys = ", ".join(f"'{key}'" for key in value)
        what = f"a mapping with key{'s' if len(value) != 1 else ''} {keys}" if value else "an empty mapping"
        return f"{what} fits none of the allowed forms; expected {forms}"
    return f"{_describe(value)} is not allowed; expected {forms}"


def _value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


def _fits_keys(union: Any, tag: Any, errors: list[ErrorDetails], depth: int) -> bool:
    """True when ``tag`` names a model member of ``union`` that knows every key of the mapping."""
    member = _pick_member(get_args(union), tag)
    if not (isinstance(member, type) and issubclass(member, BaseModel)):
        return False
    return not any(e["type"] == "extra_forbidden" and len(e["loc"]) == depth + 2 for e in errors)


def _choose_union_members(
    errors: list[ErrorDetails], model: type[BaseModel], data: Any
) -> tuple[list[ErrorDetails], list[tuple[tuple[str | int, ...], Any, Any]]]:
    """Keep the errors of the one member a mapping was meant for; merge the rest into one message.

    Without a discriminator pydantic reports every member's errors: for ``{block: 5}`` against
    'log' | {block} | {webhook} that would say "unknown field 'block'; allowed: webhook". The member
    that knows all the mapping's keys is the one the author meant; when none (or several) do,
    one "fits none of the allowed forms" message at the mapping replaces them all.
    Returns the errors to report and (document location, union, value) of each merged union.
    """
    groups: dict[tuple[Any, ...], dict[Any, list[int]]] = {}
    unions: dict[tuple[Any, ...], Any] = {}
    for index, error in enumerate(errors):
        loc = tuple(error["loc"])
        for i, union in _union_points(model, loc):
            groups.setdefault(loc[:i], {}).setdefault(loc[i], []).append(index)
            unions[loc[:i]] = union
    dropped: set[int] = set()
    merged: list[tuple[tuple[str | int, ...], Any, Any]] = []
    for prefix in sorted(groups, key=len):  # outer unions first: their choice decides the inner ones
        alive = {tag: [k for k in ks if k not in dropped] for tag, ks in groups[prefix].items()}
        alive = {tag: ks for tag, ks in alive.items() if ks}
        if len(alive) < 2:
            continue  # a discriminated union (one member tried) or already decided further out
        data_loc, leftover, _ = _walk(model, data, prefix)
        value = _value_at(data, data_loc) if leftover is None else None
        if not isinstance(value, dict):
            continue  # a scalar: every member rejects the same value, merged into one message below
        fitting = [t for t, ks in alive.items() if _fits_keys(unions[prefix], t, [errors[k] for k in ks], len(prefix))]
        for tag, ks in alive.items():
            if len(fitting) != 1 or tag != fitting[0]:
                dropped.update(ks)
        if len(fitting) != 1:
            merged.append((data_loc, unions[prefix], value))
    return [e for k, e in enumerate(errors) if k not in dropped], merged


def diagnostics_from_validation_error(
    exc: ValidationError, doc: SourceDocument, model: type[BaseModel]
) -> list[Diagnostic]:
    """One diagnostic per distinct location; union members that each reject one value give one message."""
    found: dict[tuple[tuple[str | int, ...], str | None], Diagnostic] = {}
    errors, merged = _choose_union_members(exc.errors(include_url=False), model, doc.data)
    for data_loc, union, value in merged:
        pos = doc.position_of(data_loc)
        found[(data_loc, None)] = Diagnostic(
            doc.path, pos.line, pos.col, format_location(data_loc), _union_message(union, value)
        )
    for error in errors:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            data_loc, _, _ = _walk(model, doc.data, loc[:-1])
            leftover: str | None = str(loc[-1])
            union = None
        else:
            data_loc, leftover, union = _walk(model, doc.data, loc)
        if error["type"] == "union_tag_invalid":
            # Point at the wrong 'type' value itself, not at the start of the mapping holding it.
            discriminator = _discriminator(error.get("ctx", {}))
            holder = _value_at(doc.data, data_loc)
            if isinstance(holder, dict) and discriminator in holder:
                data_loc = (*data_loc, discriminator)
        key_loc = (*data_loc, leftover) if leftover is not None else data_loc
        if union is not None and not isinstance(error.get("input"), dict):
            message = _union_message(union, error.get("input"))
        else:
            # A mapping reaching here was matched to one member: that member's own message is precise.
            message = _message(error, model, leftover)
        if (data_loc, leftover) in found:
            continue  # the same place rejected again by another union member
        pos = doc.position_of(key_loc, key=True) if error["type"] == "extra_forbidden" else doc.position_of(data_loc)
        found[(data_loc, leftover)] = Diagnostic(doc.path, pos.line, pos.col, format_location(key_loc), message)
    return sorted(found.values())
