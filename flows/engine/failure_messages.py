"""Failure messages a person reads: one line, our words (no Prefect prefix, no pydantic dump), causes named,
control characters escaped. The same text goes to the Prefect state, ``runs``, ``--json`` and the terminal."""

from __future__ import annotations

import errno
import re
import socket
from typing import Any

from pydantic import ValidationError

from compiler.language.diagnostics import format_location

__all__ = [
    "PREFECT_EXCEPTION_PREFIX",
    "connection_failure",
    "describe_exception",
    "escape_controls",
    "exception_chain",
    "is_permanent_os_error",
    "plain_message",
    "validation_message",
]

PREFECT_EXCEPTION_PREFIX = re.compile(r"^Task run encountered an exception (?:[A-Za-z_][\w.]*): ")
# C0 controls, DEL and C1 controls: a NUL or an ANSI escape in a message must not reach a terminal raw.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MAX_CHARS = 2000


def escape_controls(text: str) -> str:
    """``a\\x00b\\nc`` → ``a\\\\x00b\\\\nc``: one printable line whatever the input held."""
    return _CONTROLS.sub(lambda m: _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def plain_message(text: str) -> str:
    """A state message as people should read it: Prefect's exception prefix dropped, one escaped line."""
    text = PREFECT_EXCEPTION_PREFIX.sub("", text or "")
    text = escape_controls(text.strip())
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def validation_message(exc: Any) -> str:
    """A pydantic ``ValidationError`` as ``field: message; field: message`` (no input dump, no doc URL)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error.get("msg", "invalid"))
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        parts.append(f"{format_location(tuple(error.get('loc', ())))}: {message}")
    return "; ".join(parts) or str(exc)


# errno values that no retry can fix: the disk, the permissions or the path must change first.
_PERMANENT_ERRNOS = frozenset(
    code for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                      errno.EISDIR, errno.ENAMETOOLONG, errno.EFBIG)
)
_OS_CAUSES = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "not a folder",
    errno.EISDIR: "is a folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EFBIG: "file too large",
    errno.ECONNREFUSED: "connection refused",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}


def is_permanent_os_error(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _PERMANENT_ERRNOS


def _os_error(exc: OSError) -> str:
    cause = _OS_CAUSES.get(exc.errno or -1) or (exc.strerror or str(exc)).lower()
    where = exc.filename if exc.filename is not None else None
    return f"{cause} at {where}" if where else cause


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from, outermost first (at most 20; a cycle ends it)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def connection_failure(exc: BaseException, target: str) -> str:
    """Why a connection to ``target`` (``host:port``) failed, from the OS error under the HTTP client's
    wrapper: ``connection refused by 127.0.0.1:8080`` rather than "All connection attempts failed"."""
    for cause in exception_chain(exc):
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve {target.rsplit(':', 1)[0]} ({cause.strerror or cause})"
        if isinstance(cause, OSError) and cause.errno in _OS_CAUSES:
            text = _OS_CAUSES[cause.errno]
            return f"{text} by {target}" if cause.errno == errno.ECONNREFUSED else f"{text} ({target})"
        if type(cause).__name__.startswith("SSL") or "certificate" in str(cause).lower():
            return f"TLS error with {target}: {cause}"
    detail = str(exc).strip()
    return f"{type(exc).__name__} ({target})" + (f": {detail}" if detail else "")


def describe_exception(exc: BaseException) -> str:
    """Our one-line text for any failure of an action: its own message for our errors, the cause and the file
    for OS errors (``disk full at /var/x``), ``field: message`` for validation errors, else ``Type: message``."""
    if isinstance(exc, ValidationError):
        text = validation_message(exc)
    elif isinstance(exc, OSError) and exc.errno is not None:
        text = _os_error(exc)
    else:
        own = type(exc).__module__.split(".")[0] in ("flows", "compiler", "platform_god")
        detail = str(exc).strip()
        text = detail if own and detail else f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return plain_message(text)

