"""Outbound calls to tenants' URLs: resolved once, dialled at the checked address, never
redirected; IPv6 forms of internal addresses refused like the addresses themselves."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cancelgate.egress import (
    EgressTransport,
    TargetRefused,
    check_address,
    check_target,
    egress_client,
)
from cancelgate.webhooks.delivery import Outgoing, send


class Answers:
    """A resolver whose answers change from one look-up to the next (DNS rebinding)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class Recording(httpx.AsyncBaseTransport):
    """Stands in for the network: records where each request was addressed, answers 204."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.refuse = refuse

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        self.seen.append((host, request.headers["host"], request.extensions.get("sni_hostname")))
        if host in self.refuse:
            raise httpx.ConnectError("refused")
        return httpx.Response(204)


PUBLIC = "93.184.216.34"


async def test_a_rebinding_name_is_dialled_only_at_the_address_checked_for_each_request() -> None:
    resolver = Answers([PUBLIC], ["127.0.0.1"])
    network = Recording()
    transport = EgressTransport(allow_insecure=False, resolve=resolver, inner=network)
    async with httpx.AsyncClient(transport=transport) as client:
        first = await client.post("https://hooks.example:8443/in", content=b"{}")
        with pytest.raises(TargetRefused, match="loopback"):
            await client.post("https://hooks.example:8443/in", content=b"{}")
    assert first.status_code == 204
    # One look-up per request, and the one request sent went to the address checked for it,
    # with the name kept for the Host header and TLS.
    assert resolver.asked == [("hooks.example", 8443), ("hooks.example", 8443)]
    assert network.seen == [(PUBLIC, "hooks.example:8443", "hooks.example")]


async def test_one_internal_answer_among_public_ones_refuses_the_request() -> None:
    network = Recording()
    transport = EgressTransport(
        allow_insecure=False, resolve=Answers([PUBLIC, "10.0.0.7"]), inner=network
    )
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(TargetRefused, match=r"10\.0\.0\.7"):
            await client.post("https://hooks.example/in")
    assert network.seen == []


async def test_the_next_checked_address_is_tried_when_one_refuses_the_connection() -> None:
    other = "2606:2800:220:1:248:1893:25c8:1946"
    network = Recording(refuse=frozenset({PUBLIC}))
    transport = EgressTransport(
        allow_insecure=False, resolve=Answers([PUBLIC, other]), inner=network
    )
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.post("https://hooks.example/in")
    assert response.status_code == 204
    assert [host for host, _, _ in network.seen] == [PUBLIC, other]


@contextmanager
def http_server(
    status: int, headers: dict[str, str], host: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[int, list[str]]]:
    """A plain HTTP server answering every request alike; yields (port, request paths)."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            paths.append(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], paths
    finally:
        server.shutdown()
        server.server_close()


async def test_a_redirect_is_answered_not_followed() -> None:
    with (
        http_server(200, {}) as (target_port, target_paths),
        http_server(307, {"Location": f"http://127.0.0.1:{target_port}/x"}) as (port, paths),
    ):
        client = egress_client(timeout=5, allow_insecure=True, resolve=Answers(["127.0.0.1"]))
        async with client:
            response = await client.post(f"http://hooks.test:{port}/in", content=b"{}")
    assert response.status_code == 307
    assert paths == ["/in"]
    assert target_paths == []


async def test_proxy_variables_of_the_environment_are_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy taken from the environment would resolve the name again, out of our sight.
    with http_server(200, {}) as (proxy_port, proxy_paths), http_server(204, {}) as (port, paths):
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy_port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = egress_client(timeout=5, allow_insecure=True, resolve=Answers(["127.0.0.1"]))
        async with client:
            response = await client.post(f"http://hooks.test:{port}/in", content=b"{}")
    assert response.status_code == 204
    assert paths == ["/in"]
    assert proxy_paths == []


async def test_a_configured_egress_proxy_gets_every_request_unresolved() -> None:
    resolver = Answers(["127.0.0.1"])
    with http_server(204, {}) as (proxy_port, proxy_paths):
        client = egress_client(
            timeout=5,
            allow_insecure=True,
            proxy=f"http://127.0.0.1:{proxy_port}",
            resolve=resolver,
        )
        async with client:
            response = await client.post("http://hooks.example/in", content=b"{}")
            # The URL's form is still ours to check: a literal private address never leaves.
            with pytest.raises(TargetRefused):
                await client.post("http://10.0.0.1/in")
    assert response.status_code == 204
    assert proxy_paths == ["http://hooks.example/in"]
    assert resolver.asked == []


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.1",  # IPv4-mapped private
        "::ffff:169.254.169.254",  # IPv4-mapped metadata
        "64:ff9b::7f00:1",  # NAT64 (RFC 6052) of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a00:1",  # local-use NAT64 (RFC 8215)
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "::127.0.0.1",  # IPv4-compatible 127.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "0.0.0.0",  # reaches the host itself on Linux
        "::",
    ],
)
def test_internal_addresses_in_any_form_are_refused(address: str) -> None:
    with pytest.raises(TargetRefused):
        check_address(ipaddress.ip_address(address), allow_loopback=False)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"])
def test_public_addresses_in_mapping_forms_are_allowed(address: str) -> None:
    check_address(ipaddress.ip_address(address), allow_loopback=False)


def _certificate(
    name: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
    )
    if name == "test CA":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
    return builder.sign(signer, hashes.SHA256())


@contextmanager
def tls_receiver(
    tmp_path: Path, served_name: str
) -> Iterator[tuple[int, ssl.SSLContext, list[str | None]]]:
    """An https server on 127.0.0.1 with a certificate for `served_name`, and a client context
    that trusts its CA; yields (port, context, SNI names the server saw)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = _certificate("test CA", ca_key, ca_name, ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(served_name, key, ca_name, ca_key)
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sni_seen: list[str | None] = []
    server_context.sni_callback = lambda sock, name, ctx: sni_seen.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(
        cadata=ca.public_bytes(serialization.Encoding.PEM).decode()
    )
    try:
        yield server.server_address[1], client_context, sni_seen
    finally:
        server.shutdown()
        server.server_close()


async def test_tls_to_the_checked_address_verifies_the_url_name(tmp_path: Path) -> None:
    with tls_receiver(tmp_path, "hooks.test") as (port, context, sni_seen):
        client = egress_client(
            timeout=5, allow_insecure=True, resolve=Answers(["127.0.0.1"]), verify=context
        )
        async with client:
            response = await client.post(f"https://hooks.test:{port}/in", content=b"{}")
    assert response.status_code == 200
    assert sni_seen == ["hooks.test"]


async def test_tls_to_an_address_whose_certificate_names_another_host_fails(
    tmp_path: Path,
) -> None:
    with tls_receiver(tmp_path, "elsewhere.test") as (port, context, _):
        client = egress_client(
            timeout=5, allow_insecure=True, resolve=Answers(["127.0.0.1"]), verify=context
        )
        async with client:
            with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
                await client.post(f"https://hooks.test:{port}/in", content=b"{}")


@contextmanager
def listener(host: str, port: int) -> Iterator[tuple[int, list[str]]]:
    """Accepts TCP connections on host:port and records who came; yields (port, peers)."""
    came: list[str] = []
    server = socket.create_server((host, port))
    server.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            came.append(peer[0])
            connection.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], came
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


async def test_a_delivery_to_a_rebinding_name_never_connects_to_the_internal_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the process's own resolver: the name answers an allowed address (127.0.0.2, the
    stand-in for a public one while loopback is allowed) on its first two look-ups, then
    0.0.0.0, which is refused and on Linux reaches the host's own 127.0.0.1. The delivery must
    go to the address it checked, 127.0.0.2, and never to 127.0.0.1."""
    real = socket.getaddrinfo
    answers = ["127.0.0.2", "127.0.0.2"]

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # anyio asks with the IDNA-encoded name; our resolver with the name itself.
        if host in ("rebind.test", b"rebind.test"):
            host = answers.pop(0) if answers else "0.0.0.0"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with listener("127.0.0.1", 0) as (port, internal), http_server(204, {}, "127.0.0.2", port):
        url = f"http://rebind.test:{port}/hook"
        await check_target(url, allow_insecure=True)  # the subscription's check: look-up 1
        outgoing = Outgoing(url, b"{}", {"Content-Type": "application/json"})
        async with egress_client(timeout=5, allow_insecure=True) as client:
            answer = await send(client, outgoing)  # look-up 2
            again = await send(client, outgoing)  # look-up 3: 0.0.0.0
    assert answer.status_code == 204, answer
    assert again.status_code is None and again.error is not None
    assert again.error.startswith("refused: 0.0.0.0 is not a public address")
    assert internal == []
