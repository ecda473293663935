"""SSRF protection for the ``http_request`` action, built on httpx.

Every request sent through :func:`guarded_client` (including every redirect hop, because httpx
follows redirects by sending a new request through the transport) is vetted before a socket is
opened:

* only ``http`` and ``https`` URLs are allowed;
* the host is resolved with the running loop's ``getaddrinfo`` and the request is refused when
  *any* resolved address is internal (loopback, private, link-local, CGNAT, ...), unless
  ``allow_private`` is set (``AUTOMATIONS_HTTP_ALLOW_PRIVATE=true``);
* cloud metadata endpoints are refused even when ``allow_private`` is set.

DNS rebinding: the connection is *pinned* to the address that was vetted. The request URL host is
rewritten to the vetted IP while the ``Host`` header keeps the original name and, for https, the
TLS SNI / certificate hostname check uses the original name (httpcore's ``sni_hostname`` request
extension). A second DNS answer therefore cannot redirect the connection to an address that was
never checked.

Residual risks, by design: the guard does not apply to anything that bypasses this client; the
``allow_private`` switch lets requests reach every internal address except metadata endpoints;
and environment proxies are never used (httpx ignores them when a transport is given), so a
deployment that *requires* an egress proxy has to allow-list it explicitly elsewhere.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpx

from compiler.language.net_addresses import ALLOWED_SCHEMES, METADATA_REASON, IPAddress, classify_ip

__all__ = [
    "BlockedAddress",
    "GuardedTransport",
    "IPAddress",
    "check_url",
    "classify_ip",
    "guarded_client",
    "pin_request",
]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class BlockedAddress(Exception):
    """Raised when a URL is refused by the SSRF guard (the message says why and how to allow it)."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        address: IPAddress | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.address = address
        self.reason = reason


def _display_url(url: httpx.URL) -> str:
    """URL for messages: no user info, query or fragment (they may carry credentials)."""
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}{url.path}"


def _refusal(url: httpx.URL, host: str, ip: IPAddress, reason: str) -> BlockedAddress:
    subject = f"{ip} is" if host == str(ip) else f"{host} resolves to {ip}, which is"
    article = "an" if reason[0] in "aeiou" else "a"
    if reason == METADATA_REASON:
        advice = "cloud metadata endpoints are always refused"
    else:
        advice = "set AUTOMATIONS_HTTP_ALLOW_PRIVATE=true to allow internal addresses"
    shown = _display_url(url)
    return BlockedAddress(
        f"refused {shown}: {subject} {article} {reason} address; {advice}",
        url=shown,
        address=ip,
        reason=reason,
    )


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpx.ConnectError(f"could not resolve host {host!r}: {exc}") from exc
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(sockaddr[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise httpx.ConnectError(f"could not resolve host {host!r}: no IPv4/IPv6 address")
    return addresses


async def _vet(url: httpx.URL, *, allow_private: bool) -> list[IPAddress]:
    """Resolve and check ``url``; return the vetted addresses in resolver order."""
    if url.scheme not in ALLOWED_SCHEMES:
        raise BlockedAddress(
            f"refused {_display_url(url)}: scheme {url.scheme!r} is not allowed (only http and https)",
            url=_display_url(url),
        )
    host = url.raw_host.decode("ascii")
    if not host:
        raise BlockedAddress(f"refused {url.scheme}:// URL without a host", url=_display_url(url))
    port = url.port or (443 if url.scheme == "https" else 80)
    addresses = await _resolve(host, port)
    for ip in addresses:
        reason = classify_ip(ip)
        if reason is None:
            continue
        if reason == METADATA_REASON or not allow_private:
            raise _refusal(url, url.host, ip, reason)
    return addresses


async def check_url(url: httpx.URL | str, *, allow_private: bool) -> None:
    """Raise :class:`BlockedAddress` unless ``url`` may be requested.

    The host is resolved with the running loop's ``getaddrinfo``; the URL is refused when ANY
    resolved address is blocked. Cloud metadata addresses are refused even with
    ``allow_private=True``. Unresolvable hosts raise :class:`httpx.ConnectError`.
    """
    await _vet(httpx.URL(url), allow_private=allow_private)


_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An :class:`httpx.AsyncHTTPTransport` wrapper that vets and pins every request.

    One inner transport (connection pool) is kept per original host name: pooled connections are
    keyed by the pinned IP, and sharing a pool across names would let a TLS connection verified
    for one name be reused for another name served from the same IP.
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        verify: Any = True,
        cert: Any = None,
        trust_env: bool = True,
        limits: httpx.Limits = _LIMITS,
    ) -> None:
        self.allow_private = allow_private
        if verify is True and cert is None:
            verify = _shared_verify_context(trust_env)
        self._transport_kwargs: dict[str, Any] = {
            "verify": verify,
            "cert": cert,
            "trust_env": trust_env,
            "limits": limits,
        }
        self._transports: dict[str, httpx.AsyncHTTPTransport] = {}
        self._closed = False

    def _inner(self, host: str) -> httpx.AsyncHTTPTransport:
        if self._closed:
            raise RuntimeError("GuardedTransport is closed")
        transport = self._transports.get(host)
        if transport is None:
            transport = httpx.AsyncHTTPTransport(**self._transport_kwargs)
            self._transports[host] = transport
        return transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        addresses = await _vet(request.url, allow_private=self.allow_private)
        host = request.url.raw_host.decode("ascii")
        transport = self._inner(host)
        if _literal_ip(host) is not None:
            return await transport.handle_async_request(request)

        # Try the vetted addresses in resolver order (the pinned connection bypasses the
        # happy-eyeballs fallback getaddrinfo-based connects would give); only a failure to
        # connect moves on, so the request body has not been sent yet.
        last_error: httpx.ConnectError | None = None
        for ip in addresses:
            try:
                return await transport.handle_async_request(pin_request(request, ip))
            except httpx.ConnectError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    async def aclose(self) -> None:
        self._closed = True
        transports, self._transports = list(self._transports.values()), {}
        await _close_all(transports)


def _shared_verify_context(trust_env: bool) -> ssl.SSLContext:
    """httpx's default verifying context, built once per CA location instead of once per transport.

    httpx builds it in every new transport, even for http:// URLs: loading certifi's bundle took
    ~50 ms per ``http_request`` action here (profile of serve's path, benchmarks/p3_event_latency.py).
    An SSLContext is safe to share between connections; httpx's docs recommend reusing one.
    """
    ca_env = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")) if trust_env else (None, None)
    return _verify_context(trust_env, ca_env)


@functools.cache
def _verify_context(trust_env: bool, ca_env: tuple[str | None, str | None]) -> ssl.SSLContext:
    del ca_env  # a cache key only: httpx reads SSL_CERT_FILE / SSL_CERT_DIR itself
    return httpx.create_ssl_context(trust_env=trust_env)


def pin_request(request: httpx.Request, ip: IPAddress) -> httpx.Request:
    """A copy of ``request`` addressed to ``ip``; Host header and TLS server name stay ``host``.

    ``request`` itself is left untouched: httpx resolves redirects against it.
    """
    host = request.url.raw_host.decode("ascii")
    extensions = dict(request.extensions)
    if request.url.scheme == "https":
        extensions["sni_hostname"] = host
    return httpx.Request(
        request.method,
        request.url.copy_with(host=str(ip)),
        headers=request.headers,  # already carries Host: <original name>
        stream=request.stream,
        extensions=extensions,
    )


async def _close_all(transports: Iterable[httpx.AsyncHTTPTransport]) -> None:
    errors: list[BaseException] = []
    for transport in transports:
        try:
            await transport.aclose()
        except Exception as exc:  # noqa: BLE001 - close every pool even if one fails (the first error is raised after)
            errors.append(exc)
    if errors:
        raise errors[0]


_FORBIDDEN_CLIENT_KWARGS = frozenset({"transport", "mounts", "proxy", "app"})


def guarded_client(
    *,
    allow_private: bool | None = None,
    timeout: float | httpx.Timeout | None = None,
    follow_redirects: bool = True,
    max_redirects: int = 5,
    verify: Any = True,
    **client_kwargs: Any,
) -> httpx.AsyncClient:
    """An :class:`httpx.AsyncClient` whose every request (and redirect hop) is SSRF-guarded.

    ``allow_private=None`` reads ``AUTOMATIONS_HTTP_ALLOW_PRIVATE`` from the settings.
    ``timeout=None`` means :data:`DEFAULT_TIMEOUT` (30 s, 10 s to connect), not "no timeout".
    ``verify`` is handed to the inner transport (bool, CA bundle path or ``ssl.SSLContext``).
    Other keyword arguments go to :class:`httpx.AsyncClient`, except ones that would route
    requests around the guard (``transport``, ``mounts``, ``proxy``, ``app``). ``trust_env``
    defaults to ``False`` so a worker's ``~/.netrc`` credentials are never attached.
    """
    forbidden = _FORBIDDEN_CLIENT_KWARGS.intersection(client_kwargs)
    if forbidden:
        raise TypeError(f"guarded_client() does not accept {sorted(forbidden)}: they bypass the guard")
    if allow_private is None:
        # deferred: the settings cost ~40 ms (measured: pydantic-settings, dotenv); test and dry-run load the action table without running actions
        from compiler.language.settings import get_settings

        allow_private = get_settings().http_allow_private
    client_kwargs.setdefault("trust_env", False)
    transport = GuardedTransport(allow_private=allow_private, verify=verify)
    return httpx.AsyncClient(
        transport=transport,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        **client_kwargs,
    )
