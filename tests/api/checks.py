"""Checks shared by the API tests: the seed's security headers, the standard error, polling,
and an idempotency key held by a request in flight."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from cancelgate.idempotency.keys import PROCESSING, fingerprint
from cancelgate.idempotency.models import IdempotencyRecord
from tests.api.conftest import Caller
from tests.support import REQUEST

T = TypeVar("T")

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-xss-protection": "1; mode=block",
    "cache-control": "no-cache, no-store, max-age=0, must-revalidate",
    "pragma": "no-cache",
    "expires": "0",
    "x-frame-options": "DENY",
}
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name


def assert_error(
    response: httpx.Response, status: int, type_: str, code: str, message: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert_security_headers(response)
    body: dict[str, Any] = response.json()
    assert set(body) == {"httpStatusCode", "type", "code", "message", "apiSubErrors", "timestamp"}
    assert (body["httpStatusCode"], body["type"], body["code"]) == (status, type_, code)
    if message is not None:
        assert body["message"] == message
    assert TIMESTAMP.match(body["timestamp"])
    return body


# Methods a client may try on a path; its 405's `Allow` must name exactly those it serves.
PROBED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def assert_allow_is_true(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> str:
    """OPTIONS is 405 with an `Allow` naming exactly the methods that are not 405; returns it."""
    refused = await http.options(path, headers=headers)
    assert refused.status_code == 405, refused.text
    allow = refused.headers["allow"]
    for method in PROBED_METHODS:
        response = await http.request(method, path, headers=headers)
        served = response.status_code != 405
        assert served == (method in allow.split(", ")), (method, path, allow, response.text)
    return allow


async def poll(
    caller: Caller, location: str, timeout: float = 20.0, version: str = "8"
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await caller.http.get(location, headers=caller.headers(version))
        if response.status_code != 202:
            return response
        await asyncio.sleep(0.1)
    raise TimeoutError(location)


async def apoll_until(
    fetch: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout: float, what: str
) -> T:
    """The first fetch() that done() accepts; TimeoutError naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await fetch()
        if done(value):
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{what} within {timeout}s")


async def hold_key(caller: Caller, key: str, body: bytes, locked_for: timedelta) -> datetime:
    """Store `key` as taken by a version-8 POST of body to REQUEST still being processed, its
    lock lapsing after locked_for; returns the moment it was taken."""
    now = datetime.now(UTC)
    async with caller.db.begin() as session:
        session.add(
            IdempotencyRecord(
                tenant_id=caller.tenant_id,
                key=key,
                fingerprint=fingerprint("POST", REQUEST, "8", body),
                state=PROCESSING,
                locked_until=now + locked_for,
                expires_at=now + timedelta(hours=24),
            )
        )
    return now
