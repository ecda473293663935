"""Action ``http_request``: one HTTP call through httpx with SSRF guard, one total deadline and secret redaction."""

from __future__ import annotations

import fnmatch
import json as jsonlib
from typing import Any

from compiler.language.model.actions.http_request import SPEC, HttpRequestParameters
from flows.actions.base import ActionContext, ActionError, ActionType
from flows.actions.secrets import REDACTED, SecretBox
from flows.engine.failure_messages import connection_failure

__all__ = ["ACTION", "SENSITIVE_HEADERS", "redact_headers"]

async def execute(params: HttpRequestParameters, ctx: ActionContext) -> dict[str, Any]:
    # deferred: httpx costs ~110 ms (measured); test and dry-run load the action table without running actions
    import httpx

    # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); test and dry-run load the action table without running actions
    from compiler.language.settings import get_settings
    from flows.actions.net_guard import BlockedAddress, guarded_client

    settings = get_settings()
    # Secrets were resolved by the engine in the same single rendering pass as every other template
    # (never here, on rendered text, where an event payload could smuggle in a {secret:...} reference).
    box: SecretBox = ctx.extras.get("secrets") or SecretBox()
    body = params.body
    content: str | None = None
    json_body = params.json_body
    if isinstance(body, dict | list):
        json_body = body
    elif body is not None:
        content = body if isinstance(body, str) else jsonlib.dumps(body)
    url: httpx.URL | str = params.url
    if params.params:
        # httpx's ``params=`` replaces the URL's whole query string (even when empty), so a query
        # written in the URL itself was silently dropped: merge the parameters into it instead.
        url = httpx.URL(params.url).copy_merge_params(params.params)
    try:
        async with guarded_client(timeout=ctx.deadline_seconds, follow_redirects=params.follow_redirects) as client, client.stream(
            params.method,
            url,
            headers=params.headers,
            json=json_body,
            content=content,
        ) as response:
            raw = await _read_bounded(response, settings.http_max_body_bytes)
    except BlockedAddress as exc:
        raise ActionError(box.redact_text(str(exc))) from None
    except httpx.TimeoutException as exc:
        what = _TIMEOUT_STEPS.get(type(exc).__name__, "")
        raise ActionError(
            box.redact_text(f"HTTP {params.method} {_shown(url)} timed out{what} after {ctx.deadline_seconds:g} s"),
            retryable=True,
        ) from None
    except httpx.TransportError as exc:
        raise ActionError(
            box.redact_text(f"HTTP {params.method} {_shown(url)} failed: {connection_failure(exc, _target(url))}"),
            retryable=True,
        ) from None
    text = raw.decode(response.encoding or "utf-8", errors="replace")
    output = box.redact(
        {
            "status_code": response.status_code,
            "url": str(response.url),
            "headers": redact_headers(response.headers, settings.http_redact_headers),
            "body": _maybe_json(text, response.headers.get("content-type", "")),
            "truncated": len(raw) >= settings.http_max_body_bytes,
        }
    )
    ok = (
        response.status_code in params.expected_status
        if params.expected_status
        else response.status_code < 400
    )
    if not ok:
        # 5xx and 429 are the server's trouble and may pass; other 4xx are ours and will not.
        retryable = response.status_code >= 500 or response.status_code == 429
        raise ActionError(
            f"HTTP {params.method} {output['url']} answered {response.status_code}", retryable=retryable
        )
    return output


_TIMEOUT_STEPS = {"ConnectTimeout": " connecting", "ReadTimeout": " waiting for the answer", "WriteTimeout": " sending",
                  "PoolTimeout": " waiting for a connection"}


def _shown(url: Any) -> str:
    """The URL without query or fragment (they may carry credentials)."""
    # deferred: httpx costs ~110 ms (measured); test and dry-run load the action table without running actions
    import httpx

    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None))


def _target(url: Any) -> str:
    # deferred: httpx costs ~110 ms (measured); test and dry-run load the action table without running actions
    import httpx

    parsed = httpx.URL(str(url))
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


async def _read_bounded(response: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


# Credentials a server may send back (session cookies, echoed tokens): never kept in outputs, persisted
# results or logs. AUTOMATIONS_HTTP_REDACT_HEADERS adds names or * patterns.
SENSITIVE_HEADERS = (
    "authorization", "proxy-authorization", "cookie", "set-cookie", "set-cookie2", "x-api-key", "x-auth-token",
    "x-amz-security-token", "*token*", "*secret*", "*password*", "*api-key*", "*apikey*", "*session*",
)


def redact_headers(headers: Any, extra: str = "") -> dict[str, str]:
    """Headers as a plain mapping with the values of sensitive ones replaced by ``***``."""
    patterns = [*SENSITIVE_HEADERS, *(p.strip().lower() for p in extra.split(",") if p.strip())]
    return {
        name: REDACTED if any(fnmatch.fnmatchcase(name.lower(), p) for p in patterns) else value
        for name, value in dict(headers).items()
    }


def _maybe_json(text: str, content_type: str) -> Any:
    if "json" in content_type:
        try:
            return jsonlib.loads(text)
        except ValueError:
            return text
    return text


ACTION = ActionType.of(SPEC, execute)
