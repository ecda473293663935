"""What a URL or header written in a file will certainly be refused for at run time, checked without I/O.

Templates are respected: only the literal text before the first ``{placeholder}`` is judged, so
``{base_url}/x`` is never flagged and ``https://{host}/x`` has its scheme checked but not its host.
"""

from __future__ import annotations

import re
import socket
from urllib.parse import urlsplit

from compiler.language.net_addresses import ALLOWED_SCHEMES, METADATA_REASON, IPAddress, classify_ip, literal_ip
from compiler.language.templates import Placeholder, TemplateSyntaxError, parse_template

__all__ = [
    "HTTP_ALLOW_PRIVATE_SETTING",
    "header_problem",
    "internal_address",
    "is_metadata",
    "url_problem",
]

HTTP_ALLOW_PRIVATE_SETTING = "AUTOMATIONS_HTTP_ALLOW_PRIVATE"
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# RFC 9110 token characters: what a header name may hold.
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is allowed inside header values


def _literal_prefix(text: str) -> tuple[str, bool]:
    """The text before the first placeholder, and whether the whole string is literal."""
    try:
        parts = parse_template(text).parts
    except TemplateSyntaxError:
        return text, True  # the template checks report the syntax; judge the text as written
    prefix = ""
    for part in parts:
        if isinstance(part, Placeholder):
            return prefix, False
        prefix += part
    return prefix, True


def url_problem(text: str) -> str | None:
    """Why ``text`` can never be requested (scheme other than http/https, no scheme, no host), or None."""
    prefix, whole = _literal_prefix(text)
    if _CONTROL.search(prefix):
        return "a URL cannot hold control characters (newline, tab, NUL …)"
    match = _SCHEME.match(prefix)
    if match is not None and prefix[match.end():][:1].isdigit():
        match = None  # 'localhost:8080/x': a host and port, not a scheme
    if match is None:
        # Literal text without a scheme ('example.com/x', '/path'); '{base_url}/x' is decided at run time.
        if prefix and (whole or "/" in prefix or "." in prefix):
            return f"'{_short(text)}' has no scheme; write http:// or https:// in front"
        return None
    scheme = match.group(1).lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"scheme '{scheme}' is not allowed; only http and https URLs can be requested"
    rest = prefix[match.end():]
    if not rest.startswith("//"):
        return f"'{_short(text)}' is not a full URL; write {scheme}://host/path"
    if whole and not urlsplit(prefix).netloc:
        return f"'{_short(text)}' has no host"
    return None


def internal_address(text: str) -> tuple[str, str] | None:
    """``(host, reason)`` when the URL names a literal internal address (``127.0.0.1``, ``[::1]``, ``localhost``,
    ``169.254.169.254`` …) that the runtime refuses unless private addresses are allowed; None otherwise."""
    prefix, whole = _literal_prefix(text)
    if _SCHEME.match(prefix) is None or "//" not in prefix:
        return None
    authority = prefix.split("//", 1)[1]
    if not whole and not re.search(r"[/?#]", authority):
        return None  # the host is (partly) a template
    try:
        host = urlsplit(prefix).hostname
    except ValueError:
        return None
    if not host:
        return None
    if host == "localhost" or host.endswith(".localhost"):
        return host, "loopback"
    ip = literal_ip(host) or _legacy_ipv4(host)
    if ip is None:
        return None
    reason = classify_ip(ip)
    return (host, reason) if reason else None


def is_metadata(reason: str) -> bool:
    return reason == METADATA_REASON


def _legacy_ipv4(host: str) -> IPAddress | None:
    """Forms the resolver accepts as IPv4 (``2130706433``, ``0x7f.1``, ``017700000001``): no network used."""
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", host) or not host[0].isdigit():
        return None
    try:
        return literal_ip(socket.inet_ntoa(socket.inet_aton(host)))
    except OSError:
        return None


def header_problem(name: str, value: str) -> str | None:
    """Why a request header can never be sent (CR/LF or other control characters, a name that is not a token)."""
    if "{" not in name and not _TOKEN.match(name):
        return f"header name '{_short(name)}' is not allowed: letters, digits and !#$%&'*+-.^_`|~ only"
    if _CONTROL.search(value):
        return "a header value cannot hold a line break or control character; it is sent as one line"
    return None


def _short(text: str, limit: int = 60) -> str:
    shown = text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
