"""SSRF guard: address classification tables and a real local HTTP(S) server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from compiler.language.settings import get_settings
from flows.actions.net_guard import BlockedAddress, check_url, classify_ip, guarded_client, pin_request

CLASSIFICATION = [
    # public
    ("93.184.216.34", None),
    ("8.8.8.8", None),
    ("2606:2800:220:1:248:1893:25c8:1946", None),
    ("2001:4860:4860::8888", None),
    # IPv4
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "private"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "shared (CGNAT)"),
    ("100.127.255.254", "shared (CGNAT)"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("192.0.2.10", "reserved"),
    ("203.0.113.7", "reserved"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    # cloud metadata (169.254.169.254 is also link-local, 100.100.100.200 also CGNAT)
    ("169.254.169.254", "cloud metadata"),
    ("169.254.170.2", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    # IPv6
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "private"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "reserved"),
    ("100::1", "reserved"),
    ("2001::1", "reserved"),
    # IPv4-mapped IPv6
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:93.184.216.34", None),
    # 6to4 (2002:AABB:CCDD::) and well-known NAT64 (64:ff9b::a.b.c.d)
    ("2002:7f00:1::1", "loopback"),
    ("2002:a9fe:a9fe::1", "cloud metadata"),
    ("2002:5db8:d822::1", None),
    ("64:ff9b::127.0.0.1", "loopback"),
    ("64:ff9b::192.168.0.1", "private"),
    ("64:ff9b::93.184.216.34", None),
    ("64:ff9b:1::1", "private"),
]


@pytest.mark.parametrize(("address", "expected"), CLASSIFICATION)
def test_classify_ip(address: str, expected: str | None) -> None:
    assert classify_ip(ipaddress.ip_address(address)) == expected


@dataclass
class LocalServer:
    port: int
    scheme: str = "http"
    hosts_seen: list[str] = field(default_factory=list)
    sni_seen: list[str | None] = field(default_factory=list)

    def url(self, host: str = "127.0.0.1", path: str = "/") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def _handler(server_state: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.hosts_seen.append(self.headers.get("Host", ""))
            if self.path.startswith("/redirect-metadata"):
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"hello"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    state = LocalServer(port=0)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _self_signed_localhost(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate valid for DNS:localhost only (no IP SAN), so verification needs SNI=localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def local_tls_server(tmp_path: Path) -> Iterator[tuple[LocalServer, ssl.SSLContext]]:
    cert_path, key_path = _self_signed_localhost(tmp_path)
    state = LocalServer(port=0, scheme="https")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    server_ctx.sni_callback = lambda _sock, server_name, _ctx: state.sni_seen.append(server_name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.socket = server_ctx.wrap_socket(httpd.socket, server_side=True)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(cert_path))
    try:
        yield state, client_ctx
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


async def _get(url: str, **client_kwargs: object) -> httpx.Response:
    async with guarded_client(**client_kwargs) as client:  # type: ignore[arg-type]
        response = await client.get(url)
        await response.aread()
        return response


def test_loopback_refused_by_default(local_server: LocalServer) -> None:
    with pytest.raises(BlockedAddress, match="is a loopback address"):
        asyncio.run(_get(local_server.url(), allow_private=False))


def test_refused_request_never_reaches_server(local_server: LocalServer) -> None:
    with pytest.raises(BlockedAddress):
        asyncio.run(_get(local_server.url(), allow_private=False))
    assert local_server.hosts_seen == []


def test_loopback_allowed_with_allow_private(local_server: LocalServer) -> None:
    response = asyncio.run(_get(local_server.url(), allow_private=True))
    assert (response.status_code, response.text) == (200, "hello")


def test_redirect_to_metadata_refused_even_with_allow_private(local_server: LocalServer) -> None:
    with pytest.raises(BlockedAddress, match=r"169\.254\.169\.254 is a cloud metadata address"):
        asyncio.run(_get(local_server.url(path="/redirect-metadata"), allow_private=True))


def test_localhost_hostname_refused_by_default(local_server: LocalServer) -> None:
    with pytest.raises(BlockedAddress, match=r"localhost resolves to (127\.0\.0\.1|::1), which is a loopback"):
        asyncio.run(_get(local_server.url(host="localhost"), allow_private=False))


def test_pinned_request_keeps_original_host_header(local_server: LocalServer) -> None:
    asyncio.run(_get(local_server.url(host="localhost"), allow_private=True))
    assert local_server.hosts_seen == [f"localhost:{local_server.port}"]


def test_pinned_https_request_uses_hostname_for_sni_and_certificate(
    local_tls_server: tuple[LocalServer, ssl.SSLContext],
) -> None:
    server, client_ctx = local_tls_server
    response = asyncio.run(_get(server.url(host="localhost"), allow_private=True, verify=client_ctx))
    assert (response.status_code, server.sni_seen) == (200, ["localhost"])


def test_pin_request_targets_vetted_ip_with_original_host_and_sni() -> None:
    original = httpx.Request("GET", "https://example.com:8443/path?q=1")
    pinned = pin_request(original, ipaddress.ip_address("93.184.216.34"))
    assert (str(pinned.url), pinned.headers["Host"], pinned.extensions["sni_hostname"]) == (
        "https://93.184.216.34:8443/path?q=1",
        "example.com:8443",
        "example.com",
    )


def test_pin_request_leaves_original_request_unchanged() -> None:
    original = httpx.Request("GET", "http://example.com/")
    pin_request(original, ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    assert str(original.url) == "http://example.com/"


def test_allow_private_default_comes_from_settings(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE", "true")
    get_settings.cache_clear()
    try:
        response = asyncio.run(_get(local_server.url()))
    finally:
        monkeypatch.delenv("AUTOMATIONS_HTTP_ALLOW_PRIVATE")
        get_settings.cache_clear()
    assert response.status_code == 200


def test_refusal_message_names_url_reason_and_setting() -> None:
    with pytest.raises(BlockedAddress) as info:
        asyncio.run(check_url(httpx.URL("http://127.0.0.1:8080/"), allow_private=False))
    assert str(info.value) == (
        "refused http://127.0.0.1:8080/: 127.0.0.1 is a loopback address;"
        " set AUTOMATIONS_HTTP_ALLOW_PRIVATE=true to allow internal addresses"
    )


def test_refusal_message_omits_query_and_credentials() -> None:
    with pytest.raises(BlockedAddress) as info:
        asyncio.run(check_url(httpx.URL("http://user:pw@10.0.0.1/x?token=abc"), allow_private=False))
    assert "pw" not in str(info.value) and "abc" not in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[::ffff:169.254.169.254]/",
    ],
)
def test_metadata_refused_with_allow_private(url: str) -> None:
    with pytest.raises(BlockedAddress, match="cloud metadata endpoints are always refused"):
        asyncio.run(check_url(httpx.URL(url), allow_private=True))


@pytest.mark.parametrize("url", ["ftp://93.184.216.34/file", "file:///etc/passwd"])
def test_non_http_scheme_refused(url: str) -> None:
    with pytest.raises(BlockedAddress, match="is not allowed"):
        asyncio.run(check_url(httpx.URL(url), allow_private=True))


def test_public_ip_literal_allowed() -> None:
    assert asyncio.run(check_url(httpx.URL("https://93.184.216.34/"), allow_private=False)) is None


def test_decimal_ip_host_is_resolved_and_refused() -> None:
    # getaddrinfo accepts inet_aton forms: 2130706433 == 127.0.0.1
    with pytest.raises(BlockedAddress, match=r"resolves to 127\.0\.0\.1"):
        asyncio.run(check_url(httpx.URL("http://2130706433/"), allow_private=False))


def test_guarded_client_rejects_bypassing_transport() -> None:
    with pytest.raises(TypeError, match="bypass the guard"):
        guarded_client(transport=httpx.AsyncHTTPTransport())


def test_default_verification_refuses_an_unknown_certificate(local_tls_server: tuple[LocalServer, ssl.SSLContext]) -> None:
    server, _ = local_tls_server
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        asyncio.run(_get(server.url(host="localhost"), allow_private=True))


def test_default_verification_follows_ssl_cert_file_set_after_earlier_requests(
    local_tls_server: tuple[LocalServer, ssl.SSLContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = local_tls_server
    with pytest.raises(httpx.ConnectError):
        asyncio.run(_get(server.url(host="localhost"), allow_private=True))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "cert.pem"))  # written by the fixture
    assert asyncio.run(_get(server.url(host="localhost"), allow_private=True)).status_code == 200


def test_default_verification_context_is_built_once_for_many_requests(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    original = ssl.create_default_context
    monkeypatch.setattr(ssl, "create_default_context", lambda *a, **k: built.append(a) or original(*a, **k))
    monkeypatch.setenv("SSL_CERT_DIR", f"/nonexistent-{len(built)}-{id(built)}")  # a CA location no earlier test used

    async def three() -> None:
        for _ in range(3):
            await _get(local_server.url(), allow_private=True)

    asyncio.run(three())
    assert len(built) == 1
