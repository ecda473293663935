"""Recorded condition checks: the event every watcher check emits (``CONDITION_CHECKED_EVENT``), built and read back.

The payload, one event per check whatever its outcome:

| field | value |
|---|---|
| ``automation`` | the automation whose condition was checked (also the resource label ``platform-god.automation``) |
| ``check_id`` | the watcher run's id: the occurrence a run started by this check answers to |
| ``condition`` | ``metric_path``, ``operator``, ``threshold``, ``match``: the condition as checked (the deployed one) |
| ``matches`` | ``[{path, value}]``: every value the JSONPath matched, its concrete path in jsonpath-ng notation |
| ``truncated`` | true when more than ``MAX_RECORDED_MATCHES`` values matched (only the first ones are kept) |
| ``holds`` | whether the condition held (the cooldown is decided after the check) |
| ``reason`` | the check's reason, as in the watcher's log |

The event's ``occurred`` is the check's time. ``python -m compiler replay`` rebuilds a metrics document from the
matches and checks a changed condition on it with the watcher's own evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from compiler.language.model.triggers import ConditionSpec, compile_jsonpath
from compiler.language.prefect_names import AUTOMATION_LABEL, CONDITION_CHECKED_EVENT, LABEL_PREFIX
from flows.conditions.evaluate import ConditionResult

__all__ = [
    "MAX_RECORDED_MATCHES",
    "RecordedCheck",
    "checked_event",
    "emit_condition_checked",
    "recorded_check",
    "recorded_document",
]

# A path such as `$..x` on a large document can match thousands of values; an event stays small.
MAX_RECORDED_MATCHES = 100

_log = logging.getLogger(__name__)


def _matches(spec: ConditionSpec, document: Any, values: list[Any]) -> list[dict[str, Any]]:
    """Each matched value with its concrete path; ``values`` are the JSON-safe values of the same matches."""
    try:
        found = compile_jsonpath(spec.metric_path).find(document)
    except Exception:  # noqa: BLE001 - the check itself reported why the path could not be evaluated
        return []
    return [{"path": str(match.full_path), "value": value} for match, value in zip(found, values, strict=False)]


def checked_event(automation: str, spec: ConditionSpec, document: Any, result: ConditionResult, check_id: str) -> dict[str, Any]:
    """The event of one check: ``event``, ``resource`` and ``payload`` (see the module's table)."""
    data = result.as_trigger_data(spec, check_id)  # JSON-safe values (NaN, huge integers)
    matches = _matches(spec, document, data["values"])
    return {
        "event": CONDITION_CHECKED_EVENT,
        "resource": {"prefect.resource.id": f"{LABEL_PREFIX}.condition.{automation}", AUTOMATION_LABEL: automation},
        "payload": {
            "automation": automation,
            "check_id": check_id,
            "condition": {key: data[key] for key in ("metric_path", "operator", "threshold", "match")},
            "matches": matches[:MAX_RECORDED_MATCHES],
            "truncated": len(matches) > MAX_RECORDED_MATCHES,
            "holds": result.fired,
            "reason": result.reason,
        },
    }


def emit_condition_checked(automation: str, spec: ConditionSpec, document: Any, result: ConditionResult) -> None:
    """Emit the check's event from a watcher run (its id is the check id); never fails the watcher."""
    try:
        # deferred: replay's readers of this module (compiler/commands/replay) need no Prefect (~1 s CPU to import,
        # measured); inside the try, not even a failed import fails the watcher
        from prefect.events import emit_event
        from prefect.runtime import flow_run

        event = checked_event(automation, spec, document, result, str(flow_run.get_id() or ""))
        emit_event(event=event["event"], resource=event["resource"], payload=event["payload"])
    except Exception as exc:  # noqa: BLE001 - a missing record only makes replay say so; the check goes on
        _log.warning("the check of %s was not recorded for replay: %s: %s", automation, type(exc).__name__, exc)


@dataclass(frozen=True)
class RecordedCheck:
    """One check read back from its event."""

    automation: str
    check_id: str
    occurred: datetime
    condition: Mapping[str, Any]
    matches: tuple[tuple[str, Any], ...]
    holds: bool
    truncated: bool = False


def recorded_check(event: Mapping[str, Any]) -> RecordedCheck | None:
    """The check an event (as the events API returns it) records; None for any other or a malformed event."""
    payload = event.get("payload")
    if event.get("event") != CONDITION_CHECKED_EVENT or not isinstance(payload, Mapping):
        return None
    try:
        matches = tuple((str(m["path"]), m.get("value")) for m in payload.get("matches") or [])
        occurred = datetime.fromisoformat(str(event["occurred"]).replace("Z", "+00:00"))
        return RecordedCheck(
            automation=str(payload["automation"]),
            check_id=str(payload.get("check_id") or event.get("id") or ""),
            occurred=occurred,
            condition=dict(payload["condition"]),
            matches=matches,
            holds=bool(payload.get("holds")),
            truncated=bool(payload.get("truncated")),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def recorded_document(check: RecordedCheck) -> dict[str, Any]:
    """A metrics document holding exactly the recorded values at their paths (missing list items are ``{}``)."""
    document: dict[str, Any] = {}
    for path, value in check.matches:
        try:
            compile_jsonpath(path).update_or_create(document, value)
        except Exception:  # noqa: BLE001 - a path jsonpath-ng cannot rebuild leaves that value out
            continue
    return document
