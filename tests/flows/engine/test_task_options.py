"""The exception a failed action try raises: our one-line message, and its retry class kept (a table of failures)."""

from __future__ import annotations

import errno

import httpx
import pytest

from flows.actions.base import ActionError, NotRetryable, is_retryable
from flows.engine.task_options import clean_failure


def _status_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://x/")
    return httpx.HTTPStatusError(str(status), request=request, response=httpx.Response(status, request=request))


@pytest.mark.parametrize(
    ("exc", "expected", "retryable"),
    [
        (ActionError("HTTP GET http://x/ answered 503", retryable=True), "HTTP GET http://x/ answered 503", True),
        (ActionError("answered 400"), "answered 400", False),
        (NotRetryable("bad template"), "bad template", False),
        (OSError(errno.ENOSPC, "No space left on device", "/var/automations/artifacts/r.json"),
         "disk full at /var/automations/artifacts/r.json", False),
        (PermissionError(errno.EACCES, "Permission denied", "/etc/x"), "permission denied at /etc/x", False),
        (OSError(errno.EROFS, "Read-only file system", "/ro/f"), "read-only file system at /ro/f", False),
        (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "connection reset by peer", True),
        (ValueError("plug-in said no\nsecond line"), "ValueError: plug-in said no\\nsecond line", True),
        (RuntimeError(), "RuntimeError", True),
        (httpx.ConnectTimeout("timed out"), "ConnectTimeout: timed out", True),
        (_status_error(503), "HTTPStatusError: 503", True),
        (_status_error(404), "HTTPStatusError: 404", False),
    ],
)
def test_failures_keep_their_retry_class_and_read_as_one_line(exc: Exception, expected: str, retryable: bool) -> None:
    cleaned = clean_failure(exc, "act")
    assert (str(cleaned), is_retryable(cleaned)) == (expected, retryable)
