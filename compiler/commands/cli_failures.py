"""A command that raised, as one line in our words: the Prefect API unreachable or refusing, our own errors, anything else."""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from urllib.parse import urlsplit

from compiler.commands.api_endpoint import configured_api_url
from compiler.commands.output import closed_output, stdout_closed
from flows.engine.failure_messages import connection_failure, describe_exception, exception_chain

__all__ = ["api_failure", "describe_failure", "report_failure"]

_FAILED_TO_REACH = "Failed to reach API at"  # Prefect's RuntimeError when its version check cannot read the API
_OWN_PACKAGES = ("flows", "compiler", "platform_god")
_ADVICE = "check that the server runs and that PREFECT_API_URL points at it"


def _request_url(exc: BaseException) -> str | None:
    try:
        return str(exc.request.url)  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when the error has no request
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def _api_url() -> str | None:
    """The API the command talks to: every command that uses one sets PREFECT_API_URL before Prefect is imported."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    return configured_api_url()


def _detail(response: object) -> str:
    """The API's own explanation of an error status (its JSON ``detail``), shortened; empty when there is none."""
    try:
        detail = response.json().get("detail")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a body that is not JSON, or not read: no detail
        return ""
    text = " ".join(str(detail).split()) if detail else ""
    return f": {text[:300]}" if text else ""


def api_failure(exc: BaseException, api: str | None = None) -> str | None:
    """Why the Prefect API at ``api`` (default: the one the command uses), or another HTTP server the command
    called, could not answer; None for other failures.

    Recognized anywhere in the exception's chain: httpx's transport errors (refused, timed out, TLS, ...),
    an HTTP error status, and Prefect's "Failed to reach API" that wraps either."""
    chain = exception_chain(exc)
    httpx = sys.modules.get("httpx")  # not imported: no HTTP request was made, so none failed
    prefect_wrapped = any(str(e).startswith(_FAILED_TO_REACH) for e in chain)
    if httpx is None and not prefect_wrapped:
        return None
    api = api or _api_url()
    for cause in chain:
        if httpx is None or not isinstance(cause, (httpx.TransportError, httpx.HTTPStatusError)):
            continue
        url = _request_url(cause) or api or "?"
        where = f"the Prefect API at {api}" if api and _origin(url) == _origin(api) else url
        if isinstance(cause, httpx.HTTPStatusError):
            status = cause.response.status_code
            hint = (" (check PREFECT_API_KEY or PREFECT_API_AUTH_STRING)" if status in (401, 403)
                    else f" (is {api} a Prefect API? {_ADVICE})" if status == 404 else _detail(cause.response))
            return f"{where} answered {status} {cause.response.reason_phrase} to {cause.request.method} {urlsplit(url).path}{hint}"
        return f"cannot reach {where}: {connection_failure(cause, _origin(url))}; {_ADVICE}"
    return f"cannot reach the Prefect API at {api}; {_ADVICE}" if prefect_wrapped else None


def _is_own(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _OWN_PACKAGES


def _save_traceback(exc: BaseException, command: str) -> str | None:
    """The traceback of an unexpected failure, kept in a file for a bug report; its path (None if unwritable)."""
    try:
        handle, path = tempfile.mkstemp(prefix=f"automations-{command}-", suffix=".log")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            traceback.print_exception(exc, file=stream)
    except OSError:
        return None
    return path


def describe_failure(exc: BaseException, command: str) -> str:
    """The one line ``command`` ends with: an API failure or one of our errors by its message; anything else
    by type and message, with where its traceback was saved (printed too with AUTOMATIONS_VERBOSE_ERRORS)."""
    known = api_failure(exc)
    if known is not None:
        return f"{command} failed: {known}"
    line = f"{command} failed: {describe_exception(exc)}"
    if _is_own(exc):
        return line
    if os.environ.get("AUTOMATIONS_VERBOSE_ERRORS", "").lower() in ("1", "true", "yes"):
        traceback.print_exception(exc, file=sys.stderr)
    saved = _save_traceback(exc, command)
    return line + (f" (unexpected: please report it with the traceback saved in {saved})" if saved else " (unexpected)")


def report_failure(exc: Exception, command: str) -> int:
    """Print ``command``'s failure in one line on stderr; the exit code (a closed stdout ends quietly)."""
    if isinstance(exc, BrokenPipeError) and closed_output():
        return stdout_closed()
    try:
        sys.stderr.write(describe_failure(exc, command) + "\n")
        sys.stderr.flush()
    except BrokenPipeError:
        return stdout_closed()
    return 1
