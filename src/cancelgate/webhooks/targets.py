"""Which webhook URLs we may call: https (or http/loopback when allowed), never private ranges."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata endpoints, refused even where link-local ranges are not the reason.
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
MAX_URL_LENGTH = 2000


class TargetRefused(ValueError):
    """A URL or address that webhooks must not be sent to."""


def check_url(url: str, *, allow_insecure: bool) -> tuple[str, int]:
    """(host, port) of an acceptable webhook URL, or TargetRefused saying why."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # A URL is printable ASCII (RFC 3986): anything else hides what it points at.
    if not all("!" <= char <= "~" for char in url):
        raise TargetRefused("the URL must be printable ASCII (percent-encode anything else)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TargetRefused("the URL must be absolute, with an https scheme")
    if parts.scheme == "http" and not allow_insecure:
        raise TargetRefused("the URL must use https")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    host = parts.hostname
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None  # a host name: checked once resolved
    if literal is not None:
        check_address(literal, allow_loopback=allow_insecure)
    return host, port or (443 if parts.scheme == "https" else 80)


def check_address(address: IPAddress, *, allow_loopback: bool) -> None:
    """Refuse private, link-local, metadata and other non-public addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        raise TargetRefused(f"{address} is a metadata address")
    if address.is_loopback:
        if allow_loopback:
            return
        raise TargetRefused(f"{address} is a loopback address")
    # is_global is False for private, shared (CGNAT), link-local, reserved and the rest.
    if not address.is_global or address.is_multicast:
        raise TargetRefused(f"{address} is not a public address")


async def check_target(url: str, *, allow_insecure: bool) -> None:
    """The whole check of a webhook URL: its form, then every address its host resolves to."""
    host, port = check_url(url, allow_insecure=allow_insecure)
    await resolve_and_check(host, port, allow_loopback=allow_insecure)


async def resolve_and_check(host: str, port: int, *, allow_loopback: bool) -> list[str]:
    """Resolve the host and refuse it if any address it maps to is not allowed."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"{host} does not resolve: {exc}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    for text in addresses:
        check_address(ipaddress.ip_address(text), allow_loopback=allow_loopback)
    return addresses
