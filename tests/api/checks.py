"""Checks shared by the API tests: the seed's security headers, the standard error, polling."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx

from tests.api.conftest import Caller

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
