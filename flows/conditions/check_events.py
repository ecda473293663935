"""Recorded condition checks: the one event each check of a condition group emits (``CONDITION_CHECKED_EVENT``), built and read back.

Every check that read its source (``flows/conditions/checks.py``: serve's checker and the group watcher flow alike)
emits one event for the whole group, whatever the outcome; a check whose source could not be read checked nothing
and records nothing. Resource: ``platform-god.condition-group.<group>``, label ``platform-god.condition-group``.
The payload:

| field | value |
|---|---|
| ``group`` | the condition group checked (``registry-every-60s``; see compiler/language/condition_groups.py) |
| ``interval_seconds`` | the group's check interval |
| ``check_id`` | ``<group>@<tick>`` (a per-automation watcher's: its run id): the occurrence a run started by it answers to |
| ``members`` | ``[{automation, condition, holds}]``: every member checked; ``condition`` as checked (the deployed one): |
| | ``{metric_path, operator, threshold, match}``; ``holds``: it held (the cooldown is decided after the check) |
| ``matches`` | ``{metric_path: [{path, value}]}``: once per distinct metric path of the members, every value it matched |
| | with its concrete path in jsonpath-ng notation (the first ``MAX_RECORDED_MATCHES``) |
| ``truncated`` | the metric paths that matched more than ``MAX_RECORDED_MATCHES`` values |
| ``part`` | ``[i, n]``, only when the check was split into ``n`` events to stay under ``MAX_EVENT_BYTES`` |

No reason is recorded: it follows from the condition and the values (the registry's last check and the
``fired``/``changed`` events carry it). Measured on P14's largest group (500 members on the registry, one value
each): one event of 90 kB, built in ~8 ms, as long as evaluating the members; one event per automation and check,
as the previous release emitted, would be 1,000 events a minute for P14's 1,000 conditions at 60 s.

The previous release emitted one event per automation and check (``automation``, ``check_id``, ``condition``,
``matches: [{path, value}]``, ``truncated: bool``, ``holds``, ``reason``; resource label ``platform-god.automation``);
servers keep them for days, so they are read back too.

The event's ``occurred`` is the check's time. ``python -m compiler replay`` reads each event back as one
:class:`RecordedCheck` per member, rebuilds a metrics document from its values and checks a changed condition on it
with the checks' own evaluation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from compiler.language.model.triggers import ConditionSpec, compile_jsonpath
from compiler.language.prefect_names import CONDITION_CHECKED_EVENT, CONDITION_GROUP_LABEL, LABEL_PREFIX
from flows.conditions.evaluate import _json_safe

__all__ = [
    "MAX_EVENT_BYTES",
    "MAX_RECORDED_MATCHES",
    "RecordedCheck",
    "group_checked_events",
    "record_group_check",
    "recorded_checks",
    "recorded_document",
]

# A path such as `$..x` on a large document can match thousands of values; an event stays small.
MAX_RECORDED_MATCHES = 100
# Prefect refuses an event above PREFECT_EVENTS_MAXIMUM_SIZE_BYTES (1.5 MB by default, client and server): a
# check bigger than this (thousands of members, or values that are whole sub-documents) is split in parts.
MAX_EVENT_BYTES = 500_000

_log = logging.getLogger("platform_god.conditions")

# One member of a check: its automation, its condition, whether it held.
Checked = tuple[str, ConditionSpec, bool]


def _condition(spec: ConditionSpec) -> dict[str, Any]:
    return {"metric_path": spec.metric_path, "operator": spec.operator, "threshold": _json_safe(spec.threshold), "match": spec.match}


def _matches(path: str, document: Any) -> list[dict[str, Any]]:
    """Each value ``path`` matches with its concrete path (JSON-safe: NaN, huge integers as text)."""
    try:
        found = compile_jsonpath(path).find(document)
    except Exception:  # noqa: BLE001 - the check itself reported why the path could not be evaluated
        return []
    return [{"path": str(match.full_path), "value": _json_safe(match.value)} for match in found[: MAX_RECORDED_MATCHES + 1]]


def _payload(group: str, interval: int, check_id: str, checked: Sequence[Checked], matches: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    paths = dict.fromkeys(spec.metric_path for _, spec, _ in checked)
    return {
        "group": group,
        "interval_seconds": interval,
        "check_id": check_id,
        "members": [{"automation": name, "condition": _condition(spec), "holds": holds} for name, spec, holds in checked],
        "matches": {path: matches[path][:MAX_RECORDED_MATCHES] for path in paths},
        "truncated": [path for path in paths if len(matches[path]) > MAX_RECORDED_MATCHES],
    }


def _size(payload: Mapping[str, Any]) -> int:
    return len(json.dumps(payload, separators=(",", ":"), default=str))


def group_checked_events(
    group: str, interval_seconds: int, check_id: str, checked: Iterable[Checked], document: Any, *, max_bytes: int = MAX_EVENT_BYTES
) -> list[dict[str, Any]]:
    """The events of one check (``event``, ``resource``, ``payload``; see the module's table): one, unless the
    payload would exceed ``max_bytes``; then the members are halved until each part fits (one member per part at most)."""
    members = list(checked)
    matches = {path: _matches(path, document) for path in dict.fromkeys(spec.metric_path for _, spec, _ in members)}
    parts: list[dict[str, Any]] = []
    pending = [members]
    while pending:
        chunk = pending.pop(0)
        payload = _payload(group, interval_seconds, check_id, chunk, matches)
        if len(chunk) > 1 and _size(payload) > max_bytes:
            middle = len(chunk) // 2
            pending[:0] = [chunk[:middle], chunk[middle:]]
            continue
        parts.append(payload)
    if len(parts) > 1:
        for index, payload in enumerate(parts, 1):
            payload["part"] = [index, len(parts)]
    resource = {"prefect.resource.id": f"{LABEL_PREFIX}.condition-group.{group}", CONDITION_GROUP_LABEL: group}
    return [{"event": CONDITION_CHECKED_EVENT, "resource": dict(resource), "payload": payload} for payload in parts]


def record_group_check(group: str, interval_seconds: int, check_id: str, checked: Iterable[Checked], document: Any) -> int:
    """Emit the check's events (see :func:`group_checked_events`); how many were emitted. Never raises: a missing
    record only makes ``replay`` say that no check was recorded, the check itself goes on."""
    try:
        # deferred: replay's readers of this module (compiler/commands/replay) need no Prefect (~1 s CPU to import,
        # measured); inside the try, not even a failed import fails the check
        from prefect.events import emit_event

        events = group_checked_events(group, interval_seconds, check_id, checked, document)
        for event in events:
            emit_event(event=event["event"], resource=event["resource"], payload=event["payload"])
        return len(events)
    except Exception as exc:  # noqa: BLE001 - recording is for replay; a failure is logged, never the check's
        _log.warning("check %s was not recorded for replay: %s: %s", check_id, type(exc).__name__, exc)
        return 0


@dataclass(frozen=True)
class RecordedCheck:
    """One member's check read back from its event (``group`` is empty and ``interval_seconds`` None for the
    previous release's per-automation events)."""

    automation: str
    check_id: str
    occurred: datetime
    condition: Mapping[str, Any]
    matches: tuple[tuple[str, Any], ...]
    holds: bool
    truncated: bool = False
    group: str = ""
    interval_seconds: int | None = None


def _pairs(matches: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((str(m["path"]), m.get("value")) for m in matches or [])


def _group_checks(payload: Mapping[str, Any], occurred: datetime, event_id: str) -> list[RecordedCheck]:
    group = str(payload["group"])
    interval = payload.get("interval_seconds")
    check_id = str(payload.get("check_id") or event_id)
    matches = {str(path): _pairs(found) for path, found in dict(payload.get("matches") or {}).items()}  # shared by members of a path
    truncated = {str(path) for path in payload.get("truncated") or []}
    found = []
    for member in payload["members"]:
        try:
            condition = dict(member["condition"])
            path = str(condition.get("metric_path"))
            found.append(RecordedCheck(
                automation=str(member["automation"]), check_id=check_id, occurred=occurred, condition=condition,
                matches=matches.get(path, ()), holds=bool(member.get("holds")), truncated=path in truncated,
                group=group, interval_seconds=int(interval) if isinstance(interval, int | float) else None,
            ))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # a malformed member: the others still count
    return found


def recorded_checks(event: Mapping[str, Any]) -> list[RecordedCheck]:
    """The checks an event (as the events API returns it) records, one per member; none for any other or a
    malformed event. Reads the group form and the previous release's per-automation form."""
    payload = event.get("payload")
    if event.get("event") != CONDITION_CHECKED_EVENT or not isinstance(payload, Mapping):
        return []
    try:
        occurred = datetime.fromisoformat(str(event["occurred"]).replace("Z", "+00:00"))
        if "members" in payload:
            return _group_checks(payload, occurred, str(event.get("id") or ""))
        return [RecordedCheck(
            automation=str(payload["automation"]),
            check_id=str(payload.get("check_id") or event.get("id") or ""),
            occurred=occurred,
            condition=dict(payload["condition"]),
            matches=_pairs(payload.get("matches")),
            holds=bool(payload.get("holds")),
            truncated=bool(payload.get("truncated")),
        )]
    except (KeyError, TypeError, ValueError, AttributeError):
        return []


def recorded_document(check: RecordedCheck) -> dict[str, Any]:
    """A metrics document holding exactly the recorded values at their paths (missing list items are ``{}``)."""
    document: dict[str, Any] = {}
    for path, value in check.matches:
        try:
            compile_jsonpath(path).update_or_create(document, value)
        except Exception:  # noqa: BLE001 - a path jsonpath-ng cannot rebuild leaves that value out
            continue
    return document
