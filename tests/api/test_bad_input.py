"""A corpus of bad input: every case gets the documented 4xx in the API's own format, never 500,
and nothing is written."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from cancelgate.appointments.models import AppointmentCancellation
from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios
from tests.api.checks import assert_error
from tests.api.conftest import Caller, Channel
from tests.api.test_ux_cancel import assert_ux_error
from tests.support import (
    BAD_REQUEST,
    INSTALLATION_BODY,
    MALFORMED,
    REQUEST,
    REQUESTS,
    SERVICE_REQUEST,
    SUBSCRIPTIONS,
    wait_until,
)

LIMIT = 64 * 1024
DEEP = b"[" * 20_000 + b"]" * 20_000
NOT_READABLE = ("client.validation", "http.message.not.readable")
NOT_VALID = ("client.validation", "method.argument.not.valid")


async def raw_post(caller: Caller, path: str, content: bytes, version: str = "8") -> httpx.Response:
    headers = {**caller.headers(version), "Content-Type": "application/json"}
    return await caller.http.post(path, content=content, headers=headers)


async def cancellations(caller: Caller) -> int:
    async with caller.db() as session:
        count = await session.scalar(
            select(func.count()).where(AppointmentCancellation.tenant_id == caller.tenant_id)
        )
    return int(count or 0)


async def test_malformed_and_odd_json_is_400(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    bodies = [
        b"{",
        b"",
        b"null",
        b"[1]",
        b'"text"',
        b'{"appointmentId": NaN}',
        b'{"appointmentId": Infinity}',
        b'{"appointmentId": 1e400}',
        DEEP,
        b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
        b'{"appointmentId": "\\ud800"}',
        b'{"appointmentId": 1, "note": "a\\u0000b"}',
        b'{"\\udfff": 1}',
        b'{"appointmentId": "\xff\xfe"}',
        b'{"appointmentId": 1}{"appointmentId": 2}',
    ]
    for body in bodies:
        response = await raw_post(caller, REQUEST, body)
        assert_error(response, 400, *NOT_READABLE)
    assert await cancellations(caller) == 0
    # The same body, well formed, is accepted: the refusals above were about the bytes.
    ok = await raw_post(caller, REQUEST, f'{{"appointmentId": {appointment.id}}}'.encode())
    assert ok.status_code == 201


async def test_wrong_types_odd_unicode_and_out_of_range_ids_are_422(caller: Caller) -> None:
    for value in (
        '"12"',
        "true",
        "1.5",
        "[1]",
        '{"id": 1}',
        '"\u202e12"',
        '"\U0001f4a5"',
        '"\u200b"',
        str(2**31),
        str(2**63),
        "-" + str(2**63),
        "1" + "0" * 4000,
    ):
        response = await raw_post(caller, REQUEST, f'{{"appointmentId": {value}}}'.encode())
        body = assert_error(response, 422, *NOT_VALID)
        [sub] = body["apiSubErrors"]
        assert sub["field"] == "appointmentId"
    for value in ("0", "-1", str(-(2**31))):
        response = await raw_post(caller, REQUEST, f'{{"appointmentId": {value}}}'.encode())
        assert_error(response, 404, "business.rule", "resource.not.found")
    service = f'{{"serviceId": {2**40}, "cancellationDate": "2030-01-01"}}'.encode()
    assert_error(await raw_post(caller, SERVICE_REQUEST, service, "7"), 422, *NOT_VALID)
    odd_date = b'{"serviceId": 1, "cancellationDate": "\xd9\xa2\xd9\xa0\xd9\xa3\xd9\xa0-01-01"}'
    assert_error(await raw_post(caller, SERVICE_REQUEST, odd_date, "7"), 422, *NOT_VALID)
    for url in ("http://127.0.0.1:9/\u200bhook", "http://exa\u0301mple.com/x", "\u202ehttp://x"):
        hook = {"url": url, "events": ["appointment.cancelled"]}
        response = await caller.http.post(SUBSCRIPTIONS, json=hook, headers=caller.headers())
        assert response.status_code in (400, 422), (url, response.text)
        assert response.json()["httpStatusCode"] == response.status_code
    assert await cancellations(caller) == 0


async def test_path_ids_negative_huge_and_not_numbers(caller: Caller) -> None:
    for raw in ("-1", "0", str(2**31 - 1)):
        response = await caller.http.get(f"{REQUESTS}/{raw}", headers=caller.headers())
        assert_error(response, 404, "business.rule", "resource.not.found")
    paths = [
        f"{REQUESTS}/{{}}",
        "/api/connect/services/{}",
        "/api/connect/services/service-cancellations/requests/{}",
        f"{SUBSCRIPTIONS}/{{}}",
        f"{SUBSCRIPTIONS}/{{}}/deliveries",
    ]
    for raw in (str(2**31), "9" * 40, "1.0", "1e3", "%F0%9F%92%A5", "%00", "0x10", "%E2%80%AE1"):
        for template in paths:
            path = template.format(raw)
            version = "7" if "service-cancellations" in path else "8"
            response = await caller.http.get(path, headers=caller.headers(version))
            assert response.status_code in (400, 404), (path, response.text)
            assert response.json()["httpStatusCode"] == response.status_code


async def test_bodies_over_the_limit_are_413(caller: Caller, channel: Channel) -> None:
    big = b'{"appointmentId": 1, "pad": "' + b"x" * LIMIT + b'"}'
    declared = await raw_post(caller, REQUEST, big)
    assert_error(declared, 413, "client.validation", "payload.too.large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024 + 2):
            yield b" " * 1024

    headers = {**caller.headers(), "Content-Type": "application/json"}
    streamed = await caller.http.post(REQUEST, content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "client.validation", "payload.too.large")
    token = await caller.http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&pad=" + b"x" * LIMIT,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        auth=(caller.client_id, caller.client_secret),
    )
    assert token.status_code == 413 and token.json()["error"] == "invalid_request"
    appointment = await channel.appointment(csg.INSTALLATION)
    ux = await channel.http.patch(
        f"/ecom-ux/v1/PR/appointment/{appointment.appointment_id}",
        content=big,
        headers={**channel.headers(), "Content-Type": "application/json"},
    )
    assert ux.status_code == 413 and ux.json()["errors"][0]["code"] == 413
    assert (await channel.sim(appointment)).status != "cancelled"
    # Just under the limit is read and judged on its content.
    near = b'{"appointmentId": 1, "pad": "' + b"x" * (LIMIT - 100) + b'"}'
    assert (await raw_post(caller, REQUEST, near)).status_code == 404
    assert await cancellations(caller) == 0


async def test_missing_and_repeated_headers(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    body = f'{{"appointmentId": {appointment.id}}}'.encode()
    auth = ("Authorization", f"Bearer {caller.token}")
    json_type = ("Content-Type", "application/json")
    cases: list[tuple[list[tuple[str, str]], int, str]] = [
        ([json_type, ("X-API-VERSION", "8")], 401, "unauthorized"),
        ([auth, json_type], 400, "missing.request.header"),
        ([auth, ("X-API-VERSION", "8")], 415, "media.type.not.supported"),
        ([auth, auth, json_type, ("X-API-VERSION", "8")], 401, "unauthorized"),
        ([auth, json_type, ("X-API-VERSION", "8"), ("X-API-VERSION", "8")], 400, ""),
        ([auth, json_type, ("X-API-VERSION", "8"), ("X-API-VERSION", "7")], 400, ""),
        ([auth, json_type, json_type, ("X-API-VERSION", "8")], 415, "media.type.not.supported"),
        ([auth, json_type, ("X-API-VERSION", "")], 400, ""),
        ([auth, json_type, ("X-API-VERSION", "8.0")], 400, ""),
    ]
    for headers, status, code in cases:
        response = await caller.http.post(REQUEST, content=body, headers=headers)
        assert response.status_code == status, (headers, response.text)
        error = response.json()
        assert error["httpStatusCode"] == status
        if code:
            assert error["code"] == code, (headers, error)
    assert await cancellations(caller) == 0


async def test_ux_bad_bodies_and_headers(channel: Channel) -> None:
    appointment = await channel.appointment(csg.INSTALLATION)
    path = f"/ecom-ux/v1/PR/appointment/{appointment.appointment_id}"
    for body in (
        b"{",
        DEEP,
        b'{"status": NaN}',
        b'{"status": "cancelled\\u0000"}',
        b'{"status": "\\ud800"}',
        b"\xff",
    ):
        headers = {**channel.headers(), "Content-Type": "application/json"}
        response = await channel.http.patch(path, content=body, headers=headers)
        assert_ux_error(response, 400, BAD_REQUEST, MALFORMED)
    for wrong in (
        {"status": 1},
        {"status": "cancelled", "relatedEntity": "x"},
        [INSTALLATION_BODY],
    ):
        response = await channel.patch("PR", appointment.appointment_id, wrong)
        assert response.status_code == 400 and response.json()["errors"][0]["code"] == 400
    twice = [
        ("client_id", channel.client_id),
        ("client_id", channel.client_id),
        ("client_secret", channel.client_secret),
        ("X-Correlation-ID", "dup-1"),
    ]
    response = await channel.http.patch(path, json=INSTALLATION_BODY, headers=twice)
    assert response.status_code == 401
    assert (await channel.sim(appointment)).status != "cancelled"


def log_lines_of(log: Path, request_id: str) -> list[dict[str, Any]]:
    """The serve process's JSON log lines that carry request_id."""
    lines = []
    for text in log.read_text(errors="replace").splitlines():
        if request_id in text:
            with contextlib.suppress(ValueError):
                lines.append(json.loads(text))
    return lines


async def send_half_a_body(api_server: str, headers: dict[str, str], body: bytes) -> None:
    """POST REQUEST declaring twice the body's length, send the body, then go away."""
    port = httpx.URL(api_server).port
    assert port is not None
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    length = f"Content-Length: {2 * len(body)}"
    head = [f"POST {REQUEST} HTTP/1.1", f"Host: 127.0.0.1:{port}", length]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_a_caller_gone_mid_body_is_one_info_line_and_holds_no_key(
    caller: Caller, api_server: str, serve_log: Path
) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    body = json.dumps({"appointmentId": appointment.id}).encode()
    key, request_id = str(uuid.uuid4()), f"gone-{uuid.uuid4()}"
    headers = {
        **caller.headers(),
        "Content-Type": "application/json",
        "Idempotency-Key": key,
        "X-Request-ID": request_id,
    }
    await send_half_a_body(api_server, headers, body)
    without_key = {k: v for k, v in headers.items() if k != "Idempotency-Key"}
    without_key["X-Request-ID"] = request_id + "-no-key"
    await send_half_a_body(api_server, without_key, body)

    def logged() -> bool:
        return len(log_lines_of(serve_log, request_id)) >= 2

    await asyncio.to_thread(wait_until, logged, 10, "both disconnects logged")
    lines = log_lines_of(serve_log, request_id)
    assert {line["request_id"] for line in lines} == {request_id, request_id + "-no-key"}
    assert [(line["event"], line["level"]) for line in lines] == [
        ("client_disconnected", "info")
    ] * 2
    assert not any("exception" in line or "Traceback" in json.dumps(line) for line in lines)
    # Half a request claimed nothing: the whole request with the same key is a first request.
    whole = await caller.http.post(REQUEST, content=body, headers=headers)
    assert whole.status_code == 201 and "idempotent-replayed" not in whole.headers
    assert whole.headers["x-request-id"] == request_id
