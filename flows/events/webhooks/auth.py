"""Authenticating webhook requests: GitHub's HMAC, a timestamped HMAC, bearer tokens; always constant-time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from compiler.language.model.webhooks import BearerAuth, GithubAuth, HmacAuth

__all__ = ["GITHUB_SIGNATURE_HEADER", "hmac_hex", "sign_github", "sign_hmac", "signed_stamp", "verify"]

GITHUB_SIGNATURE_HEADER = "x-hub-signature-256"
_PREFIX = "sha256="


def hmac_hex(key: str, message: bytes) -> str:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_github(key: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value GitHub sends for ``body`` (for tests, benchmarks and senders)."""
    return _PREFIX + hmac_hex(key, body)


def sign_hmac(key: str, body: bytes, timestamp: int | str) -> str:
    """The signature header value of the generic scheme: HMAC-SHA256 of ``<timestamp>.<body>``."""
    return _PREFIX + hmac_hex(key, f"{timestamp}.".encode("ascii") + body)


def _same(expected: str, given: str) -> bool:
    # compare_digest takes time independent of where the values differ; bytes because a header may hold
    # non-ASCII text, which compare_digest refuses as str.
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogateescape"))


def verify(auth: GithubAuth | HmacAuth | BearerAuth, key: str, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    """None when the request is authentic, else why not. Reasons never contain the key, a signature or the body."""
    if isinstance(auth, GithubAuth):
        return _verify_signature(key, headers.get(GITHUB_SIGNATURE_HEADER), "X-Hub-Signature-256", body, require_prefix=True)
    if isinstance(auth, HmacAuth):
        return _verify_timestamped(auth, key, headers, body, now)
    return _verify_bearer(key, headers.get("authorization"))


def signed_stamp(auth: GithubAuth | HmacAuth | BearerAuth, headers: Mapping[str, str]) -> tuple[str, int] | None:
    """A timestamped HMAC request's signature (hex, as ``verify`` compared it) and timestamp; None for other schemes.

    Meaningful only for a request ``verify`` accepted: then the signature stands for exactly this timestamp and body.
    """
    if not isinstance(auth, HmacAuth):
        return None
    given = headers.get(auth.signature_header.lower(), "")
    stamp = headers.get(auth.timestamp_header.lower(), "")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return None
    return given.removeprefix(_PREFIX).lower(), int(stamp)


def _verify_signature(key: str, given: str | None, header: str, message: bytes, *, require_prefix: bool) -> str | None:
    if not given:
        return f"missing signature header {header}"
    if given.startswith(_PREFIX):
        given = given[len(_PREFIX) :]
    elif require_prefix:
        return f"signature header {header} is not of the form sha256=<hex>"
    if not _same(hmac_hex(key, message), given.lower()):
        return "signature does not match (wrong secret, or the body was changed on the way)"
    return None


def _verify_timestamped(auth: HmacAuth, key: str, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
    stamp = headers.get(auth.timestamp_header.lower())
    if not stamp:
        return f"missing timestamp header {auth.timestamp_header}"
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        return f"timestamp header {auth.timestamp_header} is not Unix seconds"
    age = now - int(stamp)
    if abs(age) > auth.tolerance_seconds:
        when = f"{age:.0f} s old" if age > 0 else f"{-age:.0f} s in the future"
        return f"timestamp is {when} (tolerance {auth.tolerance_seconds} s): a replay or a wrong clock"
    # The timestamp is part of the signed message, so it cannot be refreshed without the key.
    return _verify_signature(key, headers.get(auth.signature_header.lower()), auth.signature_header,
                             stamp.encode("ascii") + b"." + body, require_prefix=False)


def _verify_bearer(key: str, given: str | None) -> str | None:
    if not given:
        return "missing Authorization header (expected: Bearer <token>)"
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "Authorization header is not of the form: Bearer <token>"
    if not _same(key, token.strip()):
        return "bearer token does not match"
    return None
