"""The receiver end to end: ``python -m compiler webhooks`` as a real process, real HTTP requests, the session's real
Prefect server. Accepted requests become Prefect events; every refusal answers its status and emits nothing.

"Emits nothing" is read back from Prefect itself: the refused requests carry delivery ids (which would be their
event ids); after them an accepted sentinel request is sent, and once the sentinel's event is stored, none of the
refused ids may be.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from flows.events.webhooks.auth import sign_github, sign_hmac
from tests.compiler.support import ROOT
from tests.conftest import prefect_env

START_TIMEOUT_SECONDS = 120.0
STORED_TIMEOUT_SECONDS = 90.0  # Prefect's event persister writes in batches every few seconds

SECRETS = {"e2e_github": "gh-secret-Vr9q", "e2e_hmac": "hmac-secret-Lk2w", "e2e_token": "bearer-token-Zx7p"}
WEBHOOKS = {
    "gh": """\
        name: gh
        auth: {type: github, secret: "{secret:e2e_github}"}
        max_body_bytes: 2048
        event:
          event_type: custom
          custom_type: "e2e-webhook.{headers.x-github-event}"
          id_header: X-GitHub-Delivery
          payload: {ref: "{body.ref}", marker: "{body.marker}"}
        """,
    "stamped": """\
        name: stamped
        auth: {type: hmac, secret: "{secret:e2e_hmac}", tolerance_seconds: 60}
        event: {event_type: custom, custom_type: e2e-webhook.stamped, id_header: X-Delivery}
        """,
    "token": """\
        name: token
        auth: {type: bearer, token: "{secret:e2e_token}"}
        content_types: [json, form]
        event: {event_type: custom, custom_type: e2e-webhook.token, id_header: X-Delivery}
        """,
    "burst": """\
        name: burst
        auth: {type: bearer, token: "{secret:e2e_token}"}
        rate_limit: {requests: 3, per_seconds: 3600}
        event: {event_type: custom, custom_type: e2e-webhook.burst, id_header: X-Delivery}
        """,
    "guarded": """\
        name: guarded
        auth: {type: bearer, token: "{secret:e2e_token}"}
        rate_limit: {requests: 3, per_seconds: 3600}
        event: {event_type: custom, custom_type: e2e-webhook.guarded, id_header: X-Delivery}
        """,
    "once": """\
        name: once
        auth: {type: hmac, secret: "{secret:e2e_hmac}", tolerance_seconds: 60}
        event: {event_type: custom, custom_type: e2e-webhook.once}
        """,
    "unready": """\
        name: unready
        auth: {type: bearer, token: "{secret:e2e_never_set}"}
        event: {event_type: custom, custom_type: e2e-webhook.unready, id_header: X-Delivery}
        """,
}
MARKER = "body-marker-never-logged"
BODY_TIMEOUT_SECONDS = 1
# Client addresses as a reverse proxy on this machine passes them (X-Forwarded-For from 127.0.0.1 is trusted).
STRANGER, SENDER = "203.0.113.9", "198.51.100.7"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Receiver:
    url: str
    port: int
    api_url: str
    log_path: Path

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", content=body, headers=headers, timeout=30)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stored(self, event_ids: list[str]) -> set[str]:
        """Which of ``event_ids`` Prefect has stored."""
        response = httpx.post(f"{self.api_url}/events/filter", json={"filter": {"id": {"id": event_ids}}, "limit": 50}, timeout=30)
        response.raise_for_status()
        return {event["id"] for event in response.json()["events"]}

    def wait_stored(self, event_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + STORED_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            response = httpx.post(f"{self.api_url}/events/filter", json={"filter": {"id": {"id": [event_id]}}}, timeout=30)
            events = response.json()["events"]
            if events:
                return events[0]
            time.sleep(0.5)
        raise AssertionError(f"event {event_id} was not stored by Prefect within {STORED_TIMEOUT_SECONDS:.0f} s")


@pytest.fixture(scope="module")
def receiver(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Receiver]:
    """``python -m compiler webhooks`` on a free port; stopped by its PID (SIGTERM) at the end of the module."""
    root = tmp_path_factory.mktemp("webhook-receiver")
    (root / "configs" / "automations").mkdir(parents=True)
    hooks = root / "configs" / "webhooks"
    hooks.mkdir()
    for name, text in WEBHOOKS.items():
        (hooks / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    port = free_port()
    env = prefect_env(prefect_server, root / "prefect-home")
    env.update({f"AUTOMATIONS_SECRET_{name.upper()}": value for name, value in SECRETS.items()})
    env["AUTOMATIONS_WEBHOOKS_BODY_TIMEOUT_SECONDS"] = str(BODY_TIMEOUT_SECONDS)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    log_path = root / "receiver.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "compiler", "--config-dir", str(root / "configs" / "automations"), "webhooks", "--port", str(port)],
            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            assert proc.poll() is None, f"receiver exited with {proc.returncode}:\n{log_path.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"receiver not up within {START_TIMEOUT_SECONDS:.0f} s:\n{log_path.read_text()}"
            time.sleep(0.2)
        yield Receiver(url, port, prefect_server, log_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def push(delivery: str, *, key: str = SECRETS["e2e_github"], body: bytes | None = None, **headers: str) -> tuple[bytes, dict[str, str]]:
    raw = body if body is not None else json.dumps({"ref": "refs/heads/main", "marker": MARKER}).encode()
    sent = {"content-type": "application/json", "x-github-event": "push", "x-github-delivery": delivery,
            "x-hub-signature-256": sign_github(key, raw)}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    return raw, sent


def stamped(delivery: str, age_seconds: int, raw: bytes = b'{"ok": true}') -> tuple[bytes, dict[str, str]]:
    ts = int(time.time()) - age_seconds
    return raw, {"content-type": "application/json", "x-delivery": delivery, "x-timestamp": str(ts),
                 "x-signature": sign_hmac(SECRETS["e2e_hmac"], raw, ts)}


def bearer(delivery: str, token: str = SECRETS["e2e_token"], body: bytes = b'{"ok": true}',
           content_type: str = "application/json") -> tuple[bytes, dict[str, str]]:
    return body, {"content-type": content_type, "x-delivery": delivery, "authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Refusal:
    id: str
    path: str
    build: Callable[[str], tuple[bytes, dict[str, str]]]
    status: int
    reason: str
    reason_is_pattern: bool = False  # a regular expression instead of literal text

    def found_in(self, text: str, prefix: str = "") -> bool:
        pattern = self.reason if self.reason_is_pattern else re.escape(self.reason)
        return re.search(re.escape(prefix) + pattern, text) is not None


REFUSALS = [
    Refusal("wrong-signature", "/hooks/gh", lambda d: push(d, key="not-the-secret"), 401,
            "signature does not match (wrong secret, or the body was changed on the way)"),
    Refusal("body-changed-after-signing", "/hooks/gh", lambda d: (b'{"ref": "evil"}', push(d)[1]), 401,
            "signature does not match (wrong secret, or the body was changed on the way)"),
    Refusal("stale-timestamp", "/hooks/stamped", lambda d: stamped(d, 3600), 401,
            # the receiver's clock may tick once between signing and checking (CI saw 3601)
            r"timestamp is 36\d\d s old \(tolerance 60 s\)", reason_is_pattern=True),
    Refusal("wrong-token", "/hooks/token", lambda d: bearer(d, token="guess"), 401, "bearer token does not match"),
    Refusal("body-over-limit", "/hooks/gh", lambda d: push(d, body=json.dumps({"ref": "x" * 4096}).encode()), 413,
            "body is over 2048 bytes"),
    Refusal("not-json", "/hooks/gh", lambda d: push(d, body=b"ref=main", content_type="text/plain"), 415,
            "content type 'text/plain' is not accepted; send application/json"),
    Refusal("malformed-json", "/hooks/gh", lambda d: push(d, body=b'{"ref": '), 415, "body is not valid JSON"),
    Refusal("unknown-path", "/hooks/nope", push, 404, "no webhook at /hooks/nope"),
    Refusal("secret-not-configured", "/hooks/unready", bearer, 503, "webhook not ready: secret 'e2e_never_set' not found"),
    Refusal("missing-field", "/hooks/gh", lambda d: push(d, body=b'{"marker": "m"}'), 422,
            "cannot build the event: template variable '{body.ref}' is not defined"),
]


@dataclass
class Outcome:
    responses: dict[str, httpx.Response] = field(default_factory=dict)
    deliveries: dict[str, str] = field(default_factory=dict)
    burst: list[tuple[str, httpx.Response]] = field(default_factory=list)
    stored: set[str] = field(default_factory=set)
    sentinel: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def outcome(receiver: Receiver) -> Outcome:
    """Every refused request and a burst over a rate limit, then a sentinel; what Prefect stored afterwards."""
    result = Outcome()
    for row in REFUSALS:
        delivery = str(uuid.uuid4())
        body, headers = row.build(delivery)
        result.deliveries[row.id] = delivery
        result.responses[row.id] = receiver.post(row.path, body, headers)
    for _ in range(5):
        delivery = str(uuid.uuid4())
        result.burst.append((delivery, receiver.post("/hooks/burst", *bearer(delivery))))
    sentinel = str(uuid.uuid4())
    assert receiver.post("/hooks/gh", *push(sentinel)).status_code == 202
    result.sentinel = receiver.wait_stored(sentinel)
    result.stored = receiver.stored([*result.deliveries.values(), *(d for d, _ in result.burst)])
    return result


@pytest.mark.parametrize("row", REFUSALS, ids=[r.id for r in REFUSALS])
def test_refusal_answers_its_status_and_reason(row: Refusal, outcome: Outcome) -> None:
    response = outcome.responses[row.id]
    assert response.status_code == row.status, response.text
    assert response.json()["accepted"] is False
    assert row.found_in(response.json()["error"]), response.json()["error"]


@pytest.mark.parametrize("row", REFUSALS, ids=[r.id for r in REFUSALS])
def test_refusal_emits_nothing(row: Refusal, outcome: Outcome) -> None:
    assert outcome.deliveries[row.id] not in outcome.stored


def test_burst_over_the_rate_limit_is_refused_with_retry_after(outcome: Outcome) -> None:
    statuses = [response.status_code for _, response in outcome.burst]
    assert statuses == [202, 202, 202, 429, 429]
    assert int(outcome.burst[3][1].headers["retry-after"]) > 0


def test_burst_over_the_rate_limit_emits_only_what_was_accepted(outcome: Outcome) -> None:
    assert [delivery in outcome.stored for delivery, _ in outcome.burst] == [True, True, True, False, False]


def test_accepted_request_is_the_event_prefect_stored(outcome: Outcome) -> None:
    event = outcome.sentinel
    assert event["event"] == "platform-god.custom.e2e-webhook.push"
    assert event["resource"] == {"prefect.resource.id": "platform-god.custom.e2e-webhook.push",
                                 "platform-god.custom-type": "e2e-webhook.push", "platform-god.webhook": "gh"}
    assert event["payload"] == {"ref": "refs/heads/main", "marker": MARKER}


def test_accepted_answer_names_the_event_id_the_delivery_gave(receiver: Receiver) -> None:
    delivery = str(uuid.uuid4())
    response = receiver.post("/hooks/gh", *push(delivery))
    assert (response.status_code, response.json()) == (
        202, {"accepted": True, "event_id": delivery, "event": "platform-god.custom.e2e-webhook.push"})


def test_fresh_timestamped_hmac_is_accepted(receiver: Receiver) -> None:
    assert receiver.post("/hooks/stamped", *stamped(str(uuid.uuid4()), 5)).status_code == 202


def test_form_body_with_bearer_token_is_accepted(receiver: Receiver) -> None:
    body, headers = bearer(str(uuid.uuid4()), body=b"alert=disk", content_type="application/x-www-form-urlencoded")
    assert receiver.post("/hooks/token", body, headers).status_code == 202


def test_github_ping_is_answered_without_an_event(receiver: Receiver) -> None:
    delivery = str(uuid.uuid4())
    response = receiver.post("/hooks/gh", *push(delivery, body=b'{"zen": "Keep it simple."}', x_github_event="ping"))
    assert (response.status_code, response.json()["emitted"]) == (200, False)


def test_get_is_not_allowed(receiver: Receiver) -> None:
    response = httpx.get(f"{receiver.url}/hooks/gh", timeout=30)
    assert (response.status_code, response.headers["allow"]) == (405, "POST")


def test_every_refusal_is_logged_with_its_reason(outcome: Outcome, receiver: Receiver) -> None:
    log = receiver.log()
    for row in REFUSALS:
        name = row.path.rsplit("/", 1)[1] if row.status != 404 else "-"
        assert row.found_in(log, prefix=f"refused {name} {row.status}: "), row.id


def test_the_log_never_holds_a_secret_or_a_body(outcome: Outcome, receiver: Receiver) -> None:
    log = receiver.log()
    assert [secret for secret in SECRETS.values() if secret in log] == []
    assert MARKER not in log


@dataclass
class Guarded:
    stranger: list[httpx.Response]
    sender: list[httpx.Response]


@pytest.fixture(scope="module")
def guarded(receiver: Receiver) -> Guarded:
    """A stranger sends more wrong tokens than the webhook's limit (3 per hour), then the real sender sends 4 requests."""
    def send(client: str, token: str) -> httpx.Response:
        body, headers = bearer(str(uuid.uuid4()), token=token)
        return receiver.post("/hooks/guarded", body, {**headers, "x-forwarded-for": client})

    stranger = [send(STRANGER, "guess") for _ in range(5)]
    return Guarded(stranger, [send(SENDER, SECRETS["e2e_token"]) for _ in range(4)])


def test_strangers_do_not_lock_the_sender_out(guarded: Guarded) -> None:
    """Only authenticated requests spend the webhook's rate limit: the sender gets its 3, then the limit's 429."""
    assert [r.status_code for r in guarded.sender] == [202, 202, 202, 429]
    assert guarded.sender[3].json()["error"] == "over the rate limit of 3 per 3600 s"


def test_a_stranger_is_refused_before_authentication_once_over_its_own_limit(guarded: Guarded) -> None:
    assert [(r.status_code, r.json()["error"]) for r in guarded.stranger[2:]] == [
        (401, "bearer token does not match"),
        *[(429, "too many unauthenticated requests from this client (at most 3 per 3600 s)")] * 2,
    ]
    assert int(guarded.stranger[3].headers["retry-after"]) > 0


REPLAYS = [
    # (webhook, how the captured request is sent again)
    ("once", "as-is"),
    ("stamped", "as-is"),
    ("stamped", "with-another-delivery-id"),  # the delivery id is not signed: a replay may change it
]


@pytest.mark.parametrize(("path", "how"), REPLAYS, ids=[f"{path}-{how}" for path, how in REPLAYS])
def test_a_replayed_timestamped_request_runs_nothing(receiver: Receiver, path: str, how: str) -> None:
    body, headers = stamped(str(uuid.uuid4()), 5, raw=json.dumps({"n": uuid.uuid4().hex}).encode())
    first = receiver.post(f"/hooks/{path}", body, headers)
    again = {**headers, "x-delivery": str(uuid.uuid4())} if how == "with-another-delivery-id" else headers
    replay = receiver.post(f"/hooks/{path}", body, again)
    assert (first.status_code, replay.status_code, replay.json()["error"]) == (
        202, 409, "replay: a request with this signature was already accepted; nothing emitted again")


def _whole_response(sock: socket.socket) -> str:
    """The status line, headers and the body their content-length announces (the server may send the body in a
    later segment than the headers: one recv is not the whole answer)."""
    received = b""
    while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < _content_length(received):
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received.decode(errors="replace")


def _content_length(received: bytes) -> int:
    found = re.search(rb"\r\ncontent-length: *(\d+)", received.partition(b"\r\n\r\n")[0], re.IGNORECASE)
    return int(found.group(1)) if found else 0


def test_a_body_that_does_not_arrive_in_time_is_refused(receiver: Receiver) -> None:
    """A sender that declares a body and trickles it holds no connection past the body timeout."""
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=30) as sock:
        sock.sendall(b"POST /hooks/gh HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"ref\": ")
        answer = _whole_response(sock)
    assert answer.startswith("HTTP/1.1 408 ")
    assert f'"the body did not arrive within {BODY_TIMEOUT_SECONDS} s"' in answer
