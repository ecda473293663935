"""Condition triggers: evaluate a JSONPath on a metrics document with an operator, and say why."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.model.triggers import ConditionSpec, MetricsSource, NUMERIC_OPERATORS, compile_jsonpath

__all__ = ["ConditionResult", "evaluate_condition", "read_metrics", "MetricsUnavailable"]


class MetricsUnavailable(RuntimeError):
    """The metrics source could not be read (unreachable URL, missing file, no metrics yet)."""


@dataclass(frozen=True)
class ConditionResult:
    fired: bool
    value: Any
    reason: str

    def as_trigger_data(self, spec: ConditionSpec, check_id: str) -> dict[str, Any]:
        """What the automation's templates see as ``{condition.*}``."""
        return {
            "metric_path": spec.metric_path,
            "operator": spec.operator,
            "threshold": spec.threshold,
            "value": self.value,
            "check_id": check_id,
        }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def evaluate_condition(spec: ConditionSpec, document: Any) -> ConditionResult:
    """Missing paths and non-numeric values never fire: they are reported in the reason."""
    matches = [m.value for m in compile_jsonpath(spec.metric_path).find(document)]
    if spec.operator == "exists":
        return ConditionResult(bool(matches), matches[0] if matches else None,
                               f"{spec.metric_path} {'exists' if matches else 'does not exist'}")
    if not matches:
        return ConditionResult(False, None, f"{spec.metric_path} not found in the metrics document")
    value = matches[0]
    op = spec.operator
    if op in NUMERIC_OPERATORS:
        number = _number(value)
        if number is None:
            return ConditionResult(False, value, f"{spec.metric_path} is {value!r}, not a number")
        threshold = float(spec.threshold)  # type: ignore[arg-type]
        fired = {"gt": number > threshold, "lt": number < threshold, "gte": number >= threshold, "lte": number <= threshold}[op]
    elif op == "eq":
        fired = value == spec.threshold
    elif op == "ne":
        fired = value != spec.threshold
    else:  # contains
        fired = isinstance(value, str | list | dict) and spec.threshold in value  # type: ignore[operator]
    word = "holds" if fired else "does not hold"
    return ConditionResult(fired, value, f"{spec.metric_path} = {value!r}: {op} {spec.threshold!r} {word}")


async def read_metrics(source: MetricsSource) -> Any:
    """The metrics document from the registry (latest stored by agents), a JSON file or an HTTP URL."""
    if source.type == "registry":
        import asyncio

        from flows.registry import RegistryStore

        document = await asyncio.to_thread(RegistryStore.from_settings().latest_metrics)
        if document is None:
            raise MetricsUnavailable("the registry holds no metrics yet")
        return document
    if source.type == "file":
        try:
            return json.loads(Path(source.path or "").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MetricsUnavailable(f"cannot read metrics file {source.path}: {exc}") from None
    import httpx

    from flows.net_guard import BlockedAddress, guarded_client

    try:
        async with guarded_client(timeout=10) as client:
            response = await client.get(source.url or "")
            response.raise_for_status()
            return response.json()
    except (httpx.HTTPError, BlockedAddress, ValueError) as exc:
        raise MetricsUnavailable(f"cannot read metrics from {source.url}: {exc}") from None
