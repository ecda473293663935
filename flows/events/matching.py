"""Match an event against an event trigger the way Prefect's deployment trigger does (fnmatch on labels)."""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from compiler.language.model.triggers import EventSpec
from flows.events.publish import FILTER_LABELS, build_event, event_name

__all__ = ["match_event", "normalize_event", "trigger_filters"]


def trigger_filters(spec: EventSpec) -> dict[str, str]:
    """Resource labels (and their glob values) the trigger requires."""
    fields = spec.model_dump(exclude_none=True)
    return {FILTER_LABELS[k]: str(v) for k, v in fields.items() if k in FILTER_LABELS}


def normalize_event(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Accept a Prefect event (event, resource, payload, id) or the short form {event_type, <filters>, payload}."""
    if "event" in raw:
        return {"id": raw.get("id", "manual"), "event": raw["event"], "occurred": raw.get("occurred"),
                "resource": dict(raw.get("resource", {})), "payload": dict(raw.get("payload", {}))}
    kind = raw.get("event_type")
    if not isinstance(kind, str):
        raise ValueError("an event needs 'event' (Prefect form) or 'event_type' (short form)")
    payload = dict(raw.get("payload", {}))
    labels: dict[str, Any] = {k: raw.get(k) or payload.get(k) for k in FILTER_LABELS if (raw.get(k) or payload.get(k)) is not None}
    labels.update({k: raw[k] for k in ("entity_id",) if k in raw})
    try:
        built = build_event(kind, labels, payload)
    except KeyError as exc:  # the label that names the event's resource (chain_name for chain events, ...)
        raise ValueError(f"this event_type needs the filter {exc.args[0]} (or payload.{exc.args[0]}) to name its resource") from None
    return {"id": raw.get("id", built.id), "event": built.event, "occurred": raw.get("occurred"),
            "resource": built.resource, "payload": built.payload}


def match_event(spec: EventSpec, event: Mapping[str, Any]) -> tuple[bool, str]:
    expected = event_name(spec.event_type, spec.custom_type)
    if not fnmatchcase(str(event.get("event")), expected):
        return False, f"event is '{event.get('event')}', the trigger expects '{expected}'"
    resource = event.get("resource", {})
    for label, pattern in trigger_filters(spec).items():
        value = resource.get(label)
        if value is None or not fnmatchcase(str(value), pattern):
            return False, f"{label} is {value!r}, the trigger needs {pattern!r}"
    return True, f"'{expected}' matches every filter"
