"""Condition triggers: evaluate a JSONPath on a metrics document with an operator, and say why."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.language.model.triggers import NUMERIC_OPERATORS, ConditionSpec, MetricsSource, compile_jsonpath

__all__ = ["ConditionResult", "MetricsUnavailable", "evaluate_condition", "read_metrics"]


class MetricsUnavailable(RuntimeError):
    """The metrics source could not be read (unreachable URL, missing file, no metrics yet)."""


@dataclass(frozen=True)
class ConditionResult:
    """The answer of one check: ``problem`` says why the document could not answer it (and it did not fire)."""

    fired: bool
    value: Any
    reason: str
    problem: str | None = None
    values: tuple[Any, ...] = ()

    def as_trigger_data(self, spec: ConditionSpec, check_id: str) -> dict[str, Any]:
        """What the automation's templates see as ``{condition.*}``: ``value`` is the value that decided,
        ``values`` every value the JSONPath matched."""
        return {
            "metric_path": spec.metric_path,
            "operator": spec.operator,
            "threshold": _json_safe(spec.threshold),
            "match": spec.match,
            "value": _json_safe(self.value),
            "values": [_json_safe(v) for v in self.values],
            "check_id": check_id,
        }


# --- one matched value against the operator ------------------------------------------------------------
# Every function answers (holds, why-not); why-not is None when the value could be compared at all.


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality without Python's coercions: true is not 1, "1" is not 1, 1 equals 1.0; NaN equals nothing."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b  # int/float compare exactly, at any size
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return False
    return type(a) is type(b) and a == b  # str or None


def _contains(value: Any, needle: Any) -> tuple[bool, str | None]:
    if isinstance(value, str):
        if not isinstance(needle, str):
            return False, f"{_show(needle)} is not a string (a string value contains only text)"
        return needle in value, None
    if isinstance(value, list):
        return any(_json_equal(item, needle) for item in value), None
    if isinstance(value, dict):
        if isinstance(needle, str):
            return needle in value, None
        if isinstance(needle, dict):
            # A mapping contains a mapping when it holds each of its keys with an equal value.
            return all(k in value and _json_equal(value[k], v) for k, v in needle.items()), None
        return False, f"{_show(needle)} is not a string or mapping (a mapping contains keys or sub-mappings)"
    return False, f"{_show(value)} is not a string, list or mapping"


_COMPARE = {
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
    "gte": lambda a, b: a >= b,
    "lte": lambda a, b: a <= b,
}


def _check_one(op: str, value: Any, threshold: Any) -> tuple[bool, str | None]:
    if isinstance(value, float) and math.isnan(value):
        return False, "NaN is not comparable"
    if op in NUMERIC_OPERATORS:
        if not _is_number(value):
            return False, f"{_show(value)} is not a number"
        # No float() conversion: Python compares int and float exactly (a 400-digit integer included),
        # and Infinity compares above every finite number.
        return bool(_COMPARE[op](value, threshold)), None
    if op == "eq":
        return _json_equal(value, threshold), None
    if op == "ne":
        return not _json_equal(value, threshold), None
    return _contains(value, threshold)


# --- the whole condition --------------------------------------------------------------------------------


def _path_of(match: Any) -> str:
    """jsonpath-ng's ``services.[1].health`` as ``$.services[1].health``."""
    text = str(match.full_path).replace(".[", "[")
    return "$" + ("" if text.startswith("[") else ".") + text


def _show(value: Any, limit: int = 80) -> str:
    """A value as JSON for messages, shortened; never raises (huge integers, NaN, odd types)."""
    if _is_number(value) and isinstance(value, int) and abs(value) >= 10**21:
        return _big_int(value)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=True, default=repr)
    except ValueError:  # an integer beyond the 4,300-digit str() limit
        text = f"<integer of {value.bit_length()} bits>" if isinstance(value, int) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _big_int(value: int) -> str:
    """``1.00000e+400 (401 digits)``: exact integers that long are unreadable in one line."""
    try:
        digits = str(abs(value))
    except ValueError:  # beyond the 4,300-digit str() limit
        return f"{'-' if value < 0 else ''}<integer of {value.bit_length()} bits>"
    return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:6]}e+{len(digits) - 1} ({len(digits)} digits)"


def _json_safe(value: Any) -> Any:
    """Values handed to Prefect as flow parameters: NaN/Infinity and integers beyond 64 bits as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        try:
            return str(value)  # exact, as text: Prefect's JSON encoder stops at 64-bit integers
        except ValueError:
            return _big_int(value)
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def evaluate_condition(spec: ConditionSpec, document: Any) -> ConditionResult:
    """Defined for every JSON document: never raises for its content; a value that cannot be compared
    (wrong type, NaN) or a missing path does not fire and is named in ``reason`` and ``problem``."""
    path = spec.metric_path
    try:
        matches = compile_jsonpath(path).find(document)
    except Exception as exc:  # noqa: BLE001 - jsonpath-ng filters compare document values and can raise
        why = f"{path} cannot be evaluated on this document ({type(exc).__name__}: {exc})"
        return ConditionResult(False, None, why, problem=why)
    values = tuple(m.value for m in matches)
    if spec.operator == "exists":
        word = f"exists ({len(values)} match{'es' if len(values) != 1 else ''})" if values else "does not exist"
        return ConditionResult(bool(values), values[0] if values else None, f"{path} {word}", values=values)
    if not values:
        why = f"{path} not found in the metrics document"
        return ConditionResult(False, None, why, problem=why, values=values)
    wanted = f"{spec.operator} {_show(spec.threshold)}"
    checks = [(_path_of(m), m.value, *_check_one(spec.operator, m.value, spec.threshold)) for m in matches]
    problems = [f"{where} = {_show(value)}: {note}" for where, value, _, note in checks if note]
    if len(checks) == 1:
        _, value, holds, note = checks[0]
        detail = f": {note}" if note else ""
        reason = f"{path} = {_show(value)}: {wanted} {'holds' if holds else 'does not hold'}{detail}"
        return ConditionResult(holds, value, reason, problem=None if holds or not note else reason, values=values)
    held = [(where, value) for where, value, holds, _ in checks if holds]
    failed = [(where, value) for where, value, holds, _ in checks if not holds]
    fired = bool(held) if spec.match == "any" else not failed
    named = ", ".join(f"{w} = {_show(v)}" for w, v in (held if spec.match == "any" else failed)[:5])
    head = f"{path} matched {len(checks)} values; {spec.match}: {wanted}"
    if spec.match == "any":
        reason = f"{head} holds for {named}" if fired else f"{head} holds for none of them"
    else:
        reason = f"{head} holds for every one" if fired else f"{head} does not hold for {named}"
    if not fired and problems:
        reason += f" ({'; '.join(problems[:3])})"
    decided = (held or [("", values[0])])[0][1] if spec.match == "any" else (failed or [("", values[0])])[0][1]
    problem = reason if not fired and problems else None
    return ConditionResult(fired, decided, reason, problem=problem, values=values)


async def read_metrics(source: MetricsSource) -> Any:
    """The metrics document from the registry (latest stored by agents), a JSON file or an HTTP URL."""
    if source.type == "registry":
        # deferred: the registry costs ~200 ms (measured: SQLAlchemy); dry-run and test evaluate conditions without reading a source
        from flows.registry import Deadline, RegistryStore

        # Bounded: a registry locked by another process must not hold the watcher (or its thread) for long.
        document = await asyncio.to_thread(RegistryStore.from_settings().latest_metrics, Deadline.after(10))
        if document is None:
            raise MetricsUnavailable("the registry holds no metrics yet")
        return document
    if source.type == "file":
        try:
            return json.loads(Path(source.path or "").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MetricsUnavailable(f"cannot read metrics file {source.path}: {exc}") from None
    # deferred: httpx costs ~110 ms (measured); dry-run and test evaluate conditions without reading a source
    import httpx

    # deferred: the SSRF guard costs ~75 ms (measured: httpx); dry-run and test evaluate conditions without reading a source
    from flows.actions.net_guard import BlockedAddress, guarded_client

    try:
        async with guarded_client(timeout=10) as client:
            response = await client.get(source.url or "")
            response.raise_for_status()
            return response.json()
    except (httpx.HTTPError, BlockedAddress, ValueError) as exc:
        raise MetricsUnavailable(f"cannot read metrics from {source.url}: {exc}") from None
