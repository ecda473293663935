"""Authentication table: each scheme with a right, wrong, missing and malformed credential; reasons never hold the key."""

from __future__ import annotations

import pytest

from compiler.language.model.webhooks import BearerAuth, GithubAuth, HmacAuth
from flows.events.webhooks.auth import sign_github, sign_hmac, verify

KEY = "k3y-for-tests"
BODY = b'{"ref": "refs/heads/main"}'
NOW = 1_800_000_000.0
GITHUB = GithubAuth(type="github", secret="{secret:gh}")
HMAC = HmacAuth(type="hmac", secret="{secret:h}", tolerance_seconds=300)
BEARER = BearerAuth(type="bearer", token="{secret:t}")


def stamped(timestamp: int, key: str = KEY, body: bytes = BODY) -> dict[str, str]:
    return {"x-timestamp": str(timestamp), "x-signature": sign_hmac(key, body, timestamp)}


CASES = [
    ("github-ok", GITHUB, {"x-hub-signature-256": sign_github(KEY, BODY)}, BODY, None),
    ("github-upper-hex", GITHUB, {"x-hub-signature-256": "sha256=" + sign_github(KEY, BODY)[7:].upper()}, BODY, None),
    ("github-wrong-key", GITHUB, {"x-hub-signature-256": sign_github("other", BODY)}, BODY,
     "signature does not match (wrong secret, or the body was changed on the way)"),
    ("github-body-changed", GITHUB, {"x-hub-signature-256": sign_github(KEY, BODY)}, BODY + b" ",
     "signature does not match (wrong secret, or the body was changed on the way)"),
    ("github-missing", GITHUB, {}, BODY, "missing signature header X-Hub-Signature-256"),
    ("github-sha1-form", GITHUB, {"x-hub-signature-256": "sha1=abc"}, BODY,
     "signature header X-Hub-Signature-256 is not of the form sha256=<hex>"),
    ("hmac-ok", HMAC, stamped(int(NOW) - 10), BODY, None),
    ("hmac-stale", HMAC, stamped(int(NOW) - 301), BODY, "timestamp is 301 s old (tolerance 300 s): a replay or a wrong clock"),
    ("hmac-future", HMAC, stamped(int(NOW) + 400), BODY,
     "timestamp is 400 s in the future (tolerance 300 s): a replay or a wrong clock"),
    ("hmac-timestamp-swapped", HMAC, {**stamped(int(NOW) - 400), "x-timestamp": str(int(NOW))}, BODY,
     "signature does not match (wrong secret, or the body was changed on the way)"),
    ("hmac-missing-timestamp", HMAC, {"x-signature": "sha256=00"}, BODY, "missing timestamp header X-Timestamp"),
    ("hmac-timestamp-not-seconds", HMAC, {"x-timestamp": "2026-01-01T00:00:00Z", "x-signature": "00"}, BODY,
     "timestamp header X-Timestamp is not Unix seconds"),
    ("hmac-missing-signature", HMAC, {"x-timestamp": str(int(NOW))}, BODY, "missing signature header X-Signature"),
    ("bearer-ok", BEARER, {"authorization": f"Bearer {KEY}"}, BODY, None),
    ("bearer-scheme-any-case", BEARER, {"authorization": f"bearer {KEY}"}, BODY, None),
    ("bearer-wrong", BEARER, {"authorization": "Bearer guess"}, BODY, "bearer token does not match"),
    ("bearer-basic", BEARER, {"authorization": "Basic dXNlcjpwYXNz"}, BODY, "Authorization header is not of the form: Bearer <token>"),
    ("bearer-missing", BEARER, {}, BODY, "missing Authorization header (expected: Bearer <token>)"),
    ("bearer-non-ascii", BEARER, {"authorization": "Bearer kéy"}, BODY, "bearer token does not match"),
]


@pytest.mark.parametrize(("auth", "headers", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verify(auth: object, headers: dict[str, str], body: bytes, expected: str | None) -> None:
    reason = verify(auth, KEY, headers, body, NOW)  # type: ignore[arg-type]
    assert reason == expected
    assert reason is None or KEY not in reason
