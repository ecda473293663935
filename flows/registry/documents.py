"""What the registry accepts: names, limits and strict JSON documents (checked before any transaction), and deep merge."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from flows.registry.errors import RegistryError
from flows.registry.schema import MAX_NAME_CHARS

__all__ = ["MAX_LIMIT", "check_document", "check_limit", "check_name", "deep_merge"]

MAX_LIMIT = 10_000
_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_name(what: str, value: object) -> None:
    if not isinstance(value, str):
        raise RegistryError(f"registry: {what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RegistryError(f"registry: {what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME_CHARS:
        raise RegistryError(f"registry: {what} is {len(value)} characters long; at most {MAX_NAME_CHARS} allowed")


def check_limit(limit: object) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise RegistryError(f"registry: limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")


def check_document(value: object, where: str) -> dict[str, Any]:
    """Validate a top-level JSON object and return a private deep copy (callers may keep mutating theirs)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RegistryError(f"registry: {where} must be a JSON object (dict), got {type(value).__name__}")
    _check_json(value, where, "$", set())
    return copy.deepcopy(value)


def _check_json(value: object, where: str, path: str, active: set[int]) -> None:
    # Strict plain data: what json.dumps would silently coerce (tuples, int keys) or reject late
    # (datetime, sets, NaN) is refused here with the offending path, before any transaction starts.
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RegistryError(f"registry: {where} is not JSON data: {path} is {value!r} (NaN/Infinity)")
        return
    if isinstance(value, (dict, list)):
        if id(value) in active:
            raise RegistryError(f"registry: {where} is not JSON data: {path} refers back to itself")
        active.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise RegistryError(
                        f"registry: {where} is not JSON data: {path} has a key of type "
                        f"{type(key).__name__} ({key!r}); object keys must be str"
                    )
                child = f"{path}.{key}" if _PLAIN_KEY_RE.fullmatch(key) else f"{path}[{key!r}]"
                _check_json(item, where, child, active)
        else:
            for index, item in enumerate(value):
                _check_json(item, where, f"{path}[{index}]", active)
        active.discard(id(value))
        return
    raise RegistryError(
        f"registry: {where} is not JSON data: {path} has type {type(value).__name__} "
        "(allowed: dict, list, str, int, float, bool, None)"
    )


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Dicts merge key by key, recursively; any other value (lists, scalars, None) replaces the old one."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged
