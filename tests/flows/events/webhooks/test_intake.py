"""One request → verdict: the refusal table (status and reason), then what an accepted request's event holds."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from compiler.language.model.webhooks import Webhook
from flows.events.webhooks.auth import sign_github, sign_hmac
from flows.events.webhooks.intake import event_id_for, inspect

KEY = "intake-key"
NOW = 1_800_000_000.0
DELIVERY = "5d1c7b1e-4f0a-11ef-8a3b-0242ac120002"


def webhook(**overrides: Any) -> Webhook:
    data: dict[str, Any] = {
        "name": "gh",
        "auth": {"type": "github", "secret": "{secret:gh}"},
        "event": {
            "event_type": "custom",
            "custom_type": "github.{headers.x-github-event}",
            "id_header": "X-GitHub-Delivery",
            "payload": {"repository": "{body.repository.full_name}", "ref": "{body.ref}", "kind": "{headers.x-github-event}"},
        },
        "max_body_bytes": 400,
        "content_types": ["json", "form"],
    }
    data.update(overrides)
    return Webhook.model_validate(data)


PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "acme/api"}}


def request(body: Any = PUSH, *, signed: bool = True, **headers: str) -> tuple[dict[str, str], bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"content-type": "application/json", "x-github-event": "push", "x-github-delivery": DELIVERY}
    if signed:
        sent["x-hub-signature-256"] = sign_github(KEY, raw)
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return sent, raw


REFUSALS = [
    ("too-large", webhook(), request({"pad": "x" * 500}), 413, "body is 511 bytes; the limit is 400"),
    ("text-body", webhook(), request(b"hello", content_type="text/plain"), 415,
     "content type 'text/plain' is not accepted; send application/json or application/x-www-form-urlencoded"),
    ("form-not-accepted", webhook(content_types=["json"]), request(b"a=1", content_type="application/x-www-form-urlencoded"), 415,
     "content type 'application/x-www-form-urlencoded' is not accepted; send application/json"),
    ("unsigned", webhook(), request(signed=False), 401, "missing signature header X-Hub-Signature-256"),
    ("malformed-json", webhook(), request(b'{"ref": '), 415, "body is not valid JSON: JSONDecodeError"),
    ("nan-is-not-json", webhook(), request(b'{"ref": NaN}'), 415, "body is not valid JSON: JSONDecodeError"),
    ("no-delivery-id", webhook(), request(x_github_delivery=""), 400, "missing or malformed delivery id header X-GitHub-Delivery"),
    ("field-missing", webhook(), request({"ref": "x"}), 422,
     "cannot build the event: template variable '{body.repository.full_name}' is not defined ('body.repository' is missing)"),
    ("label-with-space", webhook(), request(x_github_event="pull request"), 422,
     "cannot build the event: event.custom_type rendered to 19 character(s); a label is 1-200 characters without spaces"),
    ("label-not-text", webhook(event={"event_type": "chain_complete", "chain_name": "{body.repository}"}), request(), 422,
     "cannot build the event: event.chain_name rendered to dict; a label is text"),
    ("payload-not-mapping", webhook(event={"event_type": "custom", "custom_type": "x", "payload": "{body.ref}"}), request(), 422,
     "cannot build the event: event.payload rendered to a str; the payload is a mapping"),
    ("github-ping", webhook(), request({"zen": "hi"}, x_github_event="ping"), 200, "GitHub ping: authenticated; nothing emitted"),
]


@pytest.mark.parametrize(("hook", "sent", "status", "reason"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS])
def test_refusals(hook: Webhook, sent: tuple[dict[str, str], bytes], status: int, reason: str) -> None:
    verdict = inspect(hook, sent[0], sent[1], KEY, NOW)
    assert (verdict.status, verdict.reason, verdict.event) == (status, reason, None)


def test_accepted_request_becomes_the_platform_event() -> None:
    verdict = inspect(webhook(), *request(), key=KEY, now=NOW)
    assert verdict.status == 202
    assert verdict.event == {
        "id": DELIVERY,
        "occurred": "2027-01-15T08:00:00+00:00",
        "event": "platform-god.custom.github.push",
        "resource": {
            "prefect.resource.id": "platform-god.custom.github.push",
            "platform-god.custom-type": "github.push",
            "platform-god.webhook": "gh",
        },
        "payload": {"repository": "acme/api", "ref": "refs/heads/main", "kind": "push"},
    }


def test_labels_of_other_kinds_and_status() -> None:
    hook = webhook(event={"event_type": "chain_complete", "chain_name": "{body.pipeline}", "status": "{body.state}",
                          "payload": "{body}"})
    verdict = inspect(hook, *request({"pipeline": "deploy", "state": "completed", "n": 3}), key=KEY, now=NOW)
    assert verdict.event is not None
    assert (verdict.event["event"], verdict.event["resource"], verdict.event["payload"]) == (
        "platform-god.chain.completed",
        {"prefect.resource.id": "platform-god.chain.deploy", "platform-god.chain-name": "deploy",
         "platform-god.status": "completed", "platform-god.webhook": "gh"},
        {"pipeline": "deploy", "state": "completed", "n": 3},
    )


def test_form_bodies_are_fields() -> None:
    hook = webhook(event={"event_type": "custom", "custom_type": "alert", "payload": {"name": "{body.name}", "tags": "{body.tag}"}})
    verdict = inspect(hook, *request(b"name=disk+full&tag=a&tag=b", content_type="application/x-www-form-urlencoded"), key=KEY, now=NOW)
    assert verdict.event is not None and verdict.event["payload"] == {"name": "disk full", "tags": ["a", "b"]}


def test_values_from_the_request_are_never_templates_again() -> None:
    verdict = inspect(webhook(), *request({"ref": "{secret:gh}", "repository": {"full_name": "{webhook}"}}), key=KEY, now=NOW)
    assert verdict.event is not None and verdict.event["payload"]["ref"] == "{secret:gh}"
    assert verdict.event["payload"]["repository"] == "{webhook}"


def test_credential_headers_are_not_template_variables() -> None:
    hook = webhook(event={"event_type": "custom", "custom_type": "x", "payload": {"all": "{headers}"}})
    verdict = inspect(hook, *request(), key=KEY, now=NOW)
    assert verdict.event is not None
    assert "x-hub-signature-256" not in verdict.event["payload"]["all"]
    assert verdict.event["payload"]["all"]["x-github-event"] == "push"


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        ("5D1C7B1E-4F0A-11EF-8A3B-0242AC120002", "5d1c7b1e-4f0a-11ef-8a3b-0242ac120002"),  # a UUID is the event id
        ("12345", str(uuid.uuid5(uuid.UUID("6f6e3f5e-3c1e-5b8a-9d7e-2f1c0b7a4e11"), "gh:12345"))),  # else derived, stably
    ],
    ids=["uuid", "other"],
)
def test_the_same_delivery_is_the_same_event(delivery: str, expected: str) -> None:
    assert event_id_for("gh", delivery) == event_id_for("gh", delivery) == expected


def test_without_a_delivery_id_every_request_is_new() -> None:
    assert event_id_for("gh", None) != event_id_for("gh", None)


STAMPED = {"name": "stamped", "auth": {"type": "hmac", "secret": "{secret:s}", "tolerance_seconds": 300},
           "event": {"event_type": "custom", "custom_type": "x"}}


def stamped(body: bytes = b'{"n": 1}', stamp: int = int(NOW), **headers: str) -> tuple[dict[str, str], bytes]:
    sent = {"content-type": "application/json", "x-timestamp": str(stamp), "x-signature": sign_hmac(KEY, body, stamp)}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return sent, body


def stamped_event_id(sent: tuple[dict[str, str], bytes], **event: str) -> str:
    hook = Webhook.model_validate({**STAMPED, "event": {**STAMPED["event"], **event}})
    verdict = inspect(hook, *sent, key=KEY, now=NOW)
    assert verdict.event is not None, verdict.reason
    return str(verdict.event["id"])


@pytest.mark.parametrize(
    ("second", "same"),
    [
        (stamped(), True),
        # the header spelt otherwise is the same signature (verify accepts both): a replay cannot hide behind it
        (({**stamped()[0], "x-signature": stamped()[0]["x-signature"].removeprefix("sha256=").upper()}, stamped()[1]), True),
        (stamped(stamp=int(NOW) - 1), False),
        (stamped(b'{"n": 2}'), False),
    ],
    ids=["same-request", "signature-spelt-otherwise", "other-timestamp", "other-body"],
)
def test_without_a_delivery_id_a_timestamped_signature_is_the_event_id(second: tuple[dict[str, str], bytes], same: bool) -> None:
    """So a replay that reaches another receiver process is the same event, hence the same occurrence: it runs nothing."""
    assert (stamped_event_id(stamped()) == stamped_event_id(second)) is same


def test_with_a_delivery_id_the_delivery_is_the_event_id_and_the_signature_still_counts() -> None:
    hook = Webhook.model_validate({**STAMPED, "event": {**STAMPED["event"], "id_header": "X-Delivery"}})
    verdict = inspect(hook, *stamped(x_delivery=DELIVERY), key=KEY, now=NOW)
    assert verdict.event is not None and verdict.signed is not None
    assert (verdict.event["id"], verdict.signed.until) == (DELIVERY, NOW + 300)


def test_other_schemes_have_no_signature_to_remember() -> None:
    assert inspect(webhook(), *request(), key=KEY, now=NOW).signed is None


def test_an_event_over_prefects_size_limit_is_refused_not_dropped() -> None:
    """Prefect's server answers 204 for an oversized event and drops it; the receiver refuses it instead."""
    from prefect.settings import get_current_settings

    limit = get_current_settings().server.events.maximum_size_bytes
    hook = webhook(max_body_bytes=limit + 100_000, event={"event_type": "custom", "custom_type": "x"})  # payload: the body
    verdict = inspect(hook, *request({"blob": "x" * limit}), key=KEY, now=NOW)
    assert (verdict.status, verdict.event) == (413, None)
    assert verdict.reason.endswith(f"Prefect takes at most {limit} (map fewer fields into event.payload)")
