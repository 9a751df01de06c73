"""Standard Webhooks signatures, sealed secrets, and which webhook targets are refused."""

from __future__ import annotations

import ipaddress
import os

import pytest
from cryptography.exceptions import InvalidTag

from cancelgate.egress import TargetRefused, check_address, check_url
from cancelgate.webhooks.signing import (
    new_secret,
    seal,
    secret_key,
    signature,
    signature_header,
    unseal,
)
from tests.vectors import (
    VECTOR_BODY,
    VECTOR_ID,
    VECTOR_SECRET,
    VECTOR_SIGNATURE,
    VECTOR_TIMESTAMP,
)


def test_signature_matches_the_published_vector() -> None:
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_signature_changes_with_every_input() -> None:
    base = signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    assert signature(VECTOR_SECRET, VECTOR_ID + "x", VECTOR_TIMESTAMP, VECTOR_BODY) != base
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP + 1, VECTOR_BODY) != base
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY + b" ") != base
    assert signature(new_secret(), VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) != base


def test_header_carries_one_signature_per_secret() -> None:
    other = new_secret()
    header = signature_header([VECTOR_SECRET, other], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    first, second = header.split(" ")
    assert first == VECTOR_SIGNATURE
    assert second == signature(other, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)


def test_new_secrets_are_whsec_and_distinct() -> None:
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(s.startswith("whsec_") and len(secret_key(s)) == 24 for s in secrets)


def test_sealed_secret_round_trips_and_detects_tampering() -> None:
    key = os.urandom(32)
    sealed = seal(key, VECTOR_SECRET)
    assert VECTOR_SECRET not in sealed
    assert seal(key, VECTOR_SECRET) != sealed
    assert unseal(key, sealed) == VECTOR_SECRET
    with pytest.raises(InvalidTag):
        unseal(os.urandom(32), sealed)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.example.com/in", ("hooks.example.com", 443)),
        ("https://hooks.example.com:8443/in?x=1", ("hooks.example.com", 8443)),
        ("https://8.8.8.8/in", ("8.8.8.8", 443)),
    ],
)
def test_acceptable_urls(url: str, expected: tuple[str, int]) -> None:
    assert check_url(url, allow_insecure=False) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/in",
        "ftp://hooks.example.com/in",
        "/relative",
        "https://user:pw@hooks.example.com/in",
        "https://127.0.0.1/in",
        "https://10.1.2.3/in",
        "https://192.168.0.1/in",
        "https://172.16.5.5/in",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/in",
        "https://[fd00:ec2::254]/in",
        "https://[::ffff:10.0.0.1]/in",
        "https://0.0.0.0/in",
        "https://hooks.example.com:99999/in",
        "https://" + "a" * 2000 + ".com/",
    ],
)
def test_refused_urls(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, allow_insecure=False)


def test_insecure_setting_allows_http_and_loopback_only() -> None:
    assert check_url("http://127.0.0.1:9000/hook", allow_insecure=True) == ("127.0.0.1", 9000)
    with pytest.raises(TargetRefused):
        check_url("http://10.0.0.1/hook", allow_insecure=True)
    with pytest.raises(TargetRefused):
        check_url("http://169.254.169.254/", allow_insecure=True)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("fe80::1", False),
        ("224.0.0.1", False),
        ("100.64.0.1", False),
    ],
)
def test_addresses(address: str, allowed: bool) -> None:
    ip = ipaddress.ip_address(address)
    if allowed:
        check_address(ip, allow_loopback=False)
    else:
        with pytest.raises(TargetRefused):
            check_address(ip, allow_loopback=False)
