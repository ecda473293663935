"""One webhook request → the event it becomes, or the refusal (status and reason); no I/O, shared by receiver and dry-run."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson

from compiler.language.model.webhooks import GithubAuth, HmacAuth, Webhook
from compiler.language.templates import MissingVariable, render_string, render_value
from compiler.language.webhook_catalog import CREDENTIAL_HEADERS
from flows.events.publish import LABEL_PREFIX, build_event
from flows.events.webhooks.auth import signed_stamp, verify

__all__ = [
    "WEBHOOK_LABEL",
    "SignedOnce",
    "Verdict",
    "after_authentication",
    "content_type_problem",
    "event_id_for",
    "inspect",
    "precheck",
    "signed_once",
]

WEBHOOK_LABEL = f"{LABEL_PREFIX}.webhook"
# Fixed forever: event ids derived from non-UUID delivery ids must stay the same across versions.
_DELIVERY_NAMESPACE = uuid.UUID("6f6e3f5e-3c1e-5b8a-9d7e-2f1c0b7a4e11")
# Fixed forever too: the ids derived from timestamped signatures (another namespace: never a delivery id's).
_SIGNATURE_NAMESPACE = uuid.UUID("b3d0c2a4-8e61-5f17-a2c9-54e7d1f08a36")
_MAX_DELIVERY_ID = 200
_MAX_LABEL = 200
_JSON_TYPES = ("application/json",)
_FORM_TYPES = ("application/x-www-form-urlencoded",)


@dataclass(frozen=True)
class SignedOnce:
    """A timestamped HMAC request: ``key`` stands for its signature (so for its timestamp and body), which no other
    request may reuse until ``until`` (the timestamp + tolerance; later, the timestamp check refuses it anyway)."""

    key: str
    until: float


@dataclass(frozen=True)
class Verdict:
    """202 with the Prefect event to emit, or a refusal: the status and a reason fit for logs (no secret, no body)."""

    status: int
    reason: str
    event: dict[str, Any] | None = None
    delivery_id: str | None = None
    signed: SignedOnce | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 202


def _hidden_headers(webhook: Webhook) -> frozenset[str]:
    """Headers templates never see (validation refuses them too): credentials and the signature."""
    auth = webhook.auth
    return CREDENTIAL_HEADERS | {auth.signature_header.lower()} if isinstance(auth, HmacAuth) else CREDENTIAL_HEADERS


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def content_type_problem(webhook: Webhook, content_type: str | None) -> str | None:
    """Why the declared body type is not accepted by this webhook, or None."""
    media = _media_type(content_type)
    if "json" in webhook.content_types and (media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))):
        return None
    if "form" in webhook.content_types and media in _FORM_TYPES:
        return None
    allowed = " or ".join({"json": "application/json", "form": "application/x-www-form-urlencoded"}[t] for t in webhook.content_types)
    return f"content type '{media or '(none)'}' is not accepted; send {allowed}"


def signed_once(webhook: Webhook, headers: Mapping[str, str]) -> SignedOnce | None:
    """For a timestamped HMAC request (after ``verify``): the key of its signature; None for other schemes."""
    signed = signed_stamp(webhook.auth, headers)
    if signed is None or not isinstance(webhook.auth, HmacAuth):
        return None
    signature, stamp = signed
    key = str(uuid.uuid5(_SIGNATURE_NAMESPACE, f"{webhook.name}:{signature}"))
    return SignedOnce(key, float(stamp + webhook.auth.tolerance_seconds))


def event_id_for(webhook_name: str, delivery_id: str | None, signed: SignedOnce | None = None) -> str:
    """The sender's delivery id when it is a UUID (GitHub's is), else a UUID derived from it; without one, the key of a
    timestamped signature, else random.

    The same delivery (or the same signed request) therefore always becomes the same event id, and the automation's
    occurrence key is the event id: a redelivery, or a replay that reaches another receiver process, runs no
    completed action again.
    """
    if delivery_id is None:
        return signed.key if signed is not None else str(uuid.uuid4())
    try:
        return str(uuid.UUID(delivery_id))
    except ValueError:
        return str(uuid.uuid5(_DELIVERY_NAMESPACE, f"{webhook_name}:{delivery_id}"))


def _parse_body(media: str, body: bytes) -> Any:
    if media in _FORM_TYPES:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=1000)
        return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}
    return orjson.loads(body)  # rejects NaN/Infinity, invalid UTF-8 and nesting deeper than 1024


def _label(name: str, value: Any) -> str:
    if isinstance(value, dict | list) or value is None:
        shown = "null" if value is None else type(value).__name__
        raise ValueError(f"event.{name} rendered to {shown}; a label is text")
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    if not text or len(text) > _MAX_LABEL or any(ch.isspace() or not ch.isprintable() for ch in text):
        # The value itself stays out of the reason: it comes from the body, and bodies are never logged.
        raise ValueError(f"event.{name} rendered to {len(text)} character(s); a label is 1-{_MAX_LABEL} characters without spaces")
    return text


def _event(webhook: Webhook, variables: Mapping[str, Any], delivery_id: str | None, signed: SignedOnce | None,
           now: datetime) -> dict[str, Any]:
    """Render labels and payload (the automation template rules; values from the request are never re-parsed)."""
    spec = webhook.event
    labels: dict[str, str] = {}
    for name, template in spec.labels().items():
        labels[name] = _label(name, render_string(template, variables))
    payload = render_value(spec.payload, variables)
    if not isinstance(payload, dict):
        raise ValueError(f"event.payload rendered to a {type(payload).__name__}; the payload is a mapping")
    built = build_event(spec.event_type, labels, payload)
    return {
        "id": event_id_for(webhook.name, delivery_id, signed),
        "occurred": now.isoformat(),
        "event": built.event,
        "resource": {**built.resource, WEBHOOK_LABEL: webhook.name},
        "payload": built.payload,
    }


def inspect(webhook: Webhook, headers: Mapping[str, str], body: bytes, key: str, now: float) -> Verdict:
    """Check one request in the receiver's order: size, content type, authentication, then build the event.

    ``headers`` has lower-case names. The body is parsed only after the request proved who sent it.
    """
    refused = precheck(webhook, headers, body)
    if refused is not None:
        return refused
    problem = verify(webhook.auth, key, headers, body, now)
    if problem:
        return Verdict(401, problem)
    return after_authentication(webhook, headers, body, now)


def precheck(webhook: Webhook, headers: Mapping[str, str], body: bytes) -> Verdict | None:
    """The checks before authentication (size, declared content type); None when they pass."""
    if len(body) > webhook.max_body_bytes:
        return Verdict(413, f"body is {len(body)} bytes; the limit is {webhook.max_body_bytes}")
    problem = content_type_problem(webhook, headers.get("content-type"))
    if problem:
        return Verdict(415, problem)
    return None


def after_authentication(webhook: Webhook, headers: Mapping[str, str], body: bytes, now: float) -> Verdict:
    """Parse the body and build the event. Only for a request that passed ``verify`` (or a dry run that says it could not check)."""
    if isinstance(webhook.auth, GithubAuth) and headers.get("x-github-event") == "ping":
        return Verdict(200, "GitHub ping: authenticated; nothing emitted")
    delivery_id = None
    if webhook.event.id_header:
        delivery_id = headers.get(webhook.event.id_header.lower())
        if not delivery_id or len(delivery_id) > _MAX_DELIVERY_ID or not delivery_id.isprintable():
            return Verdict(400, f"missing or malformed delivery id header {webhook.event.id_header}")
    media = _media_type(headers.get("content-type"))
    try:
        parsed = _parse_body(media, body)
    except (orjson.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        what = "JSON" if media not in _FORM_TYPES else "form data"
        return Verdict(415, f"body is not valid {what}: {type(exc).__name__}", delivery_id=delivery_id)
    received = datetime.fromtimestamp(now, UTC)
    variables = {
        "body": parsed,
        "headers": {name: value for name, value in headers.items() if name not in _hidden_headers(webhook)},
        "delivery_id": delivery_id,
        "webhook": webhook.name,
        "received_at": received.isoformat(),
    }
    signed = signed_once(webhook, headers)
    try:
        event = _event(webhook, variables, delivery_id, signed, received)
    except (MissingVariable, ValueError, TypeError) as exc:
        return Verdict(422, f"cannot build the event: {exc}", delivery_id=delivery_id)
    size = len(orjson.dumps(event))
    limit = _max_event_bytes()
    if size > limit:
        # Prefect's server answers 204 for an oversized event and then drops it (logging a warning): refuse it here.
        return Verdict(413, f"the event would be {size} bytes; Prefect takes at most {limit} (map fewer fields into event.payload)",
                       delivery_id=delivery_id)
    return Verdict(202, "accepted", event, delivery_id, signed)


def _max_event_bytes() -> int:
    """The size limit Prefect's own ``emit_event`` checks against (the server setting, default 1.5 MB)."""
    # deferred: Prefect costs ~1 s CPU to import (measured); importers that never call this function do not pay for it
    from prefect.settings import get_current_settings

    return int(get_current_settings().server.events.maximum_size_bytes)
