"""Action ``http_request``: one HTTP call through httpx with SSRF guard, one total deadline and secret redaction."""

from __future__ import annotations

import fnmatch
import json as jsonlib
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from compiler.urls import header_problem, url_problem

from flows.actions.base import ActionContext, ActionError, ActionParameters, ActionType
from flows.messages import connection_failure
from flows.secrets import REDACTED

__all__ = ["HttpRequestParameters", "ACTION", "SENSITIVE_HEADERS", "redact_headers"]

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def _checked(check: Callable[[str], str | None]) -> AfterValidator:
    def validate(value: str) -> str:
        problem = check(value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(validate)


def _status_exists(value: int) -> int:
    if not 100 <= value <= 599:
        raise ValueError(f"HTTP status {value} does not exist; statuses are 100 to 599")
    return value


# Per item, so each problem points at its own header or status.
_HeaderName = Annotated[str, _checked(lambda name: header_problem(name, ""))]
_HeaderValue = Annotated[str, _checked(lambda value: header_problem("value", value))]
_Status = Annotated[int, AfterValidator(_status_exists)]


class HttpRequestParameters(ActionParameters):
    url: str = Field(min_length=1, description="http(s) URL; may use templates.")
    method: Method = Field(default="GET", description="HTTP method.")
    headers: dict[_HeaderName, _HeaderValue] = Field(
        default_factory=dict, description="Headers; use {secret:NAME} for tokens."
    )
    params: dict[str, str | int | float | bool] = Field(default_factory=dict, description="Query parameters.")
    json_body: Any = Field(default=None, alias="json", description="JSON body.")
    body: Any = Field(default=None, description="Body: text is sent as is, a mapping or list as JSON.")
    expected_status: list[_Status] | None = Field(
        default=None, description="Statuses that count as success; default any 2xx/3xx."
    )
    follow_redirects: bool = Field(default=True, description="Follow up to 5 redirects (each one is checked).")

    model_config = {"populate_by_name": True}

    @field_validator("url")
    @classmethod
    def _requestable_url(cls, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    def urls(self) -> list[tuple[tuple[str | int, ...], str]]:
        """URLs this action requests, by location in its parameters (for the address checks of validate)."""
        return [(("url",), self.url)]

    @model_validator(mode="after")
    def _one_body(self) -> HttpRequestParameters:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give either json or body, not both")
        return self


async def execute(params: HttpRequestParameters, ctx: ActionContext) -> dict[str, Any]:
    import httpx

    from flows.net_guard import BlockedAddress, guarded_client
    from flows.secrets import SecretBox
    from flows.settings import get_settings

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
        async with guarded_client(timeout=ctx.deadline_seconds, follow_redirects=params.follow_redirects) as client:
            async with client.stream(
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
    import httpx

    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None))


def _target(url: Any) -> str:
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


ACTION = ActionType("http_request", "Make an HTTP request.", HttpRequestParameters, execute)
