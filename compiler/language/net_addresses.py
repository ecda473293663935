"""Which IP addresses are internal (loopback, private, link-local, metadata …): pure data, no I/O.

Shared by the language (``validate`` warns about literal internal addresses in URLs) and the runtime
SSRF guard (``flows/actions/net_guard.py`` refuses them after DNS resolution), so both classify alike.
"""

from __future__ import annotations

import ipaddress

__all__ = ["ALLOWED_SCHEMES", "METADATA_REASON", "IPAddress", "classify_ip", "literal_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
METADATA_REASON = "cloud metadata"

_v4 = ipaddress.IPv4Network
_v6 = ipaddress.IPv6Network

# Metadata / credential endpoints: refused even when private addresses are allowed.
_METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS / GCP / Azure / OpenStack / Oracle / DigitalOcean instance metadata
        "169.254.170.2",  # AWS ECS task metadata & credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure WireServer (platform endpoint, not a public web service)
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
    )
)

# First match wins, so more specific ranges come first.
_V4_TABLE: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_v4("0.0.0.0/8"), "unspecified"),  # "this network"; Linux connects 0.0.0.0 to the local host
    (_v4("127.0.0.0/8"), "loopback"),
    (_v4("169.254.0.0/16"), "link-local"),
    (_v4("224.0.0.0/4"), "multicast"),
    (_v4("100.64.0.0/10"), "shared (CGNAT)"),
    (_v4("10.0.0.0/8"), "private"),
    (_v4("172.16.0.0/12"), "private"),
    (_v4("192.168.0.0/16"), "private"),
    (_v4("192.0.0.0/24"), "private"),  # IETF protocol assignments
    (_v4("198.18.0.0/15"), "private"),  # benchmarking networks, used internally by some clouds
    (_v4("192.0.2.0/24"), "reserved"),  # TEST-NET-1
    (_v4("198.51.100.0/24"), "reserved"),  # TEST-NET-2
    (_v4("203.0.113.0/24"), "reserved"),  # TEST-NET-3
    (_v4("192.88.99.0/24"), "reserved"),  # deprecated 6to4 relay anycast
    (_v4("240.0.0.0/4"), "reserved"),  # includes 255.255.255.255 broadcast
)

_V6_TABLE: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_v6("::/128"), "unspecified"),
    (_v6("::1/128"), "loopback"),
    (_v6("::/96"), "reserved"),  # deprecated IPv4-compatible addresses
    (_v6("64:ff9b:1::/48"), "private"),  # local-use NAT64 (RFC 8215), translated inside the site
    (_v6("fe80::/10"), "link-local"),
    (_v6("fec0::/10"), "private"),  # deprecated site-local
    (_v6("fc00::/7"), "private"),  # unique local addresses
    (_v6("ff00::/8"), "multicast"),
    (_v6("100::/64"), "reserved"),  # discard-only
    (_v6("2001::/23"), "reserved"),  # IETF protocol assignments, incl. Teredo 2001::/32
    (_v6("2001:db8::/32"), "reserved"),  # documentation
    (_v6("3fff::/20"), "reserved"),  # documentation (RFC 9637)
)

_NAT64_WELL_KNOWN = _v6("64:ff9b::/96")
_SIXTOFOUR = _v6("2002::/16")
_GLOBAL_UNICAST_V6 = _v6("2000::/3")


def classify_ip(ip: IPAddress) -> str | None:
    """Return ``None`` for a public address, else why it is not public.

    Reasons: ``"cloud metadata"``, ``"unspecified"``, ``"loopback"``, ``"link-local"``,
    ``"multicast"``, ``"shared (CGNAT)"``, ``"private"``, ``"reserved"``. IPv6 forms that embed an
    IPv4 address and are delivered to it (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16`` and
    well-known NAT64 ``64:ff9b::/96``) are classified by the embedded IPv4 address.
    """
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if ip in _METADATA_ADDRESSES:
        return METADATA_REASON

    if isinstance(ip, ipaddress.IPv4Address):
        for network, reason in _V4_TABLE:
            if ip in network:
                return reason
        return None if ip.is_global else "reserved"

    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        return classify_ip(embedded)
    for network6, reason in _V6_TABLE:
        if ip in network6:
            return reason
    if ip not in _GLOBAL_UNICAST_V6 or not ip.is_global:
        return "reserved"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    if ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def literal_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one (``[::1]`` brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
