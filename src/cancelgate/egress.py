"""Outbound calls to URLs a tenant chose: the URL checked, its host resolved once per request,
every address checked, and the connection made to a checked address only.

Checking a name and then letting the HTTP client resolve it again is a DNS-rebinding hole: the
second answer may be 127.0.0.1. Here the request is sent to the checked address itself, while
the `Host` header, TLS SNI and certificate verification keep the URL's host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata endpoints, refused even where link-local ranges are not the reason.
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (RFC 6052 NAT64, RFC 6145
# IPv4-translated, RFC 4291 IPv4-compatible): the IPv4 address is what is really reached.
EMBEDDING_IPV4 = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("::/96"),
)
# NAT64 for local use (RFC 8215): never a public destination.
LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
MAX_URL_LENGTH = 2000

# host, port → the addresses the host name resolves to.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class TargetRefused(ValueError):
    """A URL or address that no outbound call may go to."""


def check_url(url: str, *, allow_insecure: bool) -> tuple[str, int]:
    """(host, port) of an acceptable URL, or TargetRefused saying why."""
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


def reached_address(address: IPAddress) -> IPAddress:
    """The address a packet really goes to: the IPv4 address inside a mapping IPv6 form."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in EMBEDDING_IPV4) and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def check_address(address: IPAddress, *, allow_loopback: bool) -> None:
    """Refuse private, link-local, metadata and other non-public addresses, in any form."""
    if address in LOCAL_NAT64:
        raise TargetRefused(f"{address} is not a public address")
    reached = reached_address(address)
    if reached in METADATA:
        raise TargetRefused(f"{address} is a metadata address")
    if reached.is_loopback:
        if allow_loopback:
            return
        raise TargetRefused(f"{address} is a loopback address")
    # is_global is False for private, shared (CGNAT), link-local, unspecified, reserved, ….
    if not reached.is_global or reached.is_multicast:
        raise TargetRefused(f"{address} is not a public address")


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of a host name, as the operating system's resolver answers."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"{host} does not resolve: {exc}") from None
    # getaddrinfo's order (RFC 6724 preference), without repeats.
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_and_check(
    host: str, port: int, *, allow_loopback: bool, resolve: Resolver = system_resolve
) -> list[str]:
    """The host's addresses, resolved once; TargetRefused if any of them is not allowed."""
    addresses = await resolve(host, port)
    if not addresses:
        raise TargetRefused(f"{host} does not resolve")
    for text in addresses:
        check_address(ipaddress.ip_address(text), allow_loopback=allow_loopback)
    return addresses


async def check_target(
    url: str, *, allow_insecure: bool, resolve: Resolver | None = system_resolve
) -> None:
    """The whole check of a URL: its form, then every address its host resolves to.

    `resolve=None` checks the form only (an egress proxy resolves and enforces the rest).
    """
    host, port = check_url(url, allow_insecure=allow_insecure)
    if resolve is not None:
        await resolve_and_check(host, port, allow_loopback=allow_insecure, resolve=resolve)


class EgressTransport(httpx.AsyncBaseTransport):
    """Sends each request to an address checked for it, or through the configured egress proxy.

    Connections are not kept between requests: each request is dialled at the address
    resolved and checked for it, never at one a pooled connection was made to for another name.
    """

    def __init__(
        self,
        *,
        allow_insecure: bool,
        proxy: str | None = None,
        resolve: Resolver = system_resolve,
        verify: ssl.SSLContext | bool = True,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.allow_insecure = allow_insecure
        self.proxy = proxy
        self.resolve = resolve
        # `inner` sends what this transport addressed (httpx's own transport unless given).
        self._inner = inner or httpx.AsyncHTTPTransport(
            verify=verify, proxy=proxy, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check, resolve once, then send to the first checked address that accepts."""
        host, port = check_url(str(request.url), allow_insecure=self.allow_insecure)
        if self.proxy is not None:
            return await self._inner.handle_async_request(request)
        addresses = await resolve_and_check(
            host, port, allow_loopback=self.allow_insecure, resolve=self.resolve
        )
        name_url = request.url
        if name_url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        for address in addresses[:-1]:
            try:
                return await self._send_to(request, name_url, address)
            except httpx.ConnectError:
                continue  # nothing was sent: the next checked address may accept
        return await self._send_to(request, name_url, addresses[-1])

    async def _send_to(
        self, request: httpx.Request, name_url: httpx.URL, address: str
    ) -> httpx.Response:
        # The Host header was set from the URL's name when the request was built.
        request.url = name_url.copy_with(host=address)
        try:
            return await self._inner.handle_async_request(request)
        finally:
            request.url = name_url

    async def aclose(self) -> None:
        """Close the underlying transport."""
        await self._inner.aclose()


def egress_client(
    *,
    timeout: float,
    allow_insecure: bool,
    proxy: str | None = None,
    resolve: Resolver = system_resolve,
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """An HTTP client for URLs a tenant chose: no redirects, no proxy from the environment."""
    transport = EgressTransport(
        allow_insecure=allow_insecure, proxy=proxy, resolve=resolve, verify=verify
    )
    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
    )
