"""`cancelgate client listen` and the event stream, without a server: the listen secret and the
signed deliveries (checked with the `standardwebhooks` package and against the server's own
code), the server-sent events reader, and `stream_events` reconnecting with `Last-Event-ID`
over a scripted transport."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as StandardVerificationError

from cancelgate.webhooks.delivery import event_body, event_headers
from cancelgate.webhooks.repository import EventRow
from cancelgate.webhooks.signing import signature
from cancelgate_client import (
    AsyncClient,
    ConnectApiError,
    Event,
    PollPolicy,
    StreamUpdate,
    sign_webhook,
    verify_webhook,
)
from cancelgate_client.listen import (
    delivery_body,
    delivery_headers,
    listen_secret,
    signed_delivery,
)
from cancelgate_client.sse import Message, MessageReader

TYPES = ("appointment.cancelled", "service.cancelled", "service.cancellation-rejected")
MODELS = {"appointment.cancelled": "appointment", "service.cancelled": "service"}
MODELS["service.cancellation-rejected"] = "service"
PAYLOAD: dict[str, Any] = {"serviceId": 7, "status": "COMPLETED", "note": 'é \u2028 "q"', "n": 1.5}


def streamed(event_type: str, payload: dict[str, Any] | None = None) -> Event:
    """An event as the stream gives it: id, type and payload, no headers."""
    event_id = str(uuid.uuid4())
    body = payload if payload is not None else dict(PAYLOAD)
    raw = {"id": event_id, "type": event_type, "payload": body}
    return Event(event_id, event_type, body, None, {}, raw)


# --- the listen secret ----------------------------------------------------------------------


def test_the_listen_secret_is_stable_per_profile_and_a_standard_webhooks_secret() -> None:
    secret = listen_secret("cg_client", b"the client secret")
    assert secret == listen_secret("cg_client", b"the client secret")
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert len(key) == 24
    # Another client id, or another key, is another secret.
    assert listen_secret("cg_other", b"the client secret") != secret
    assert listen_secret("cg_client", b"another secret") != secret
    # The secret reveals nothing of the key in plain sight.
    assert b"the client secret" not in key
    # As the README documents it.
    message = b"cancelgate-client listen signing secret v1\0cg_client"
    assert key == hmac.new(b"the client secret", message, hashlib.sha256).digest()[:24]


@pytest.mark.parametrize("event_type", TYPES)
def test_a_forwarded_delivery_verifies_with_standard_webhooks(event_type: str) -> None:
    secret = listen_secret("cg_client", b"s3cret")
    event = streamed(event_type)
    now = int(time.time())
    body, headers = signed_delivery(event, secret, now)
    assert Webhook(secret).verify(body, headers) == event.payload
    assert verify_webhook(secret, body, headers) == event.payload
    assert headers["webhook-id"] == event.id
    assert headers["webhook-timestamp"] == str(now)
    # The same signature as the standard's reference and the server's own signing code.
    expected = Webhook(secret).sign(event.id, datetime.fromtimestamp(now, UTC), body.decode())
    assert headers["webhook-signature"] == expected
    assert expected == signature(secret, event.id, now, body)
    # Signed with another secret, or with the body changed, it does not verify.
    with pytest.raises(StandardVerificationError):
        Webhook(listen_secret("cg_other", b"s3cret")).verify(body, headers)
    with pytest.raises(StandardVerificationError):
        Webhook(secret).verify(body.replace(b"7", b"8"), headers)


def test_sign_webhook_is_the_servers_signature() -> None:
    secret = listen_secret("cg_client", b"k")
    body = b'{"a":1}'
    assert sign_webhook(secret, "msg_1", 1_700_000_000, body) == signature(
        secret, "msg_1", 1_700_000_000, body
    )


@pytest.mark.parametrize("event_type", TYPES)
def test_a_streamed_events_headers_and_body_are_a_real_deliverys(event_type: str) -> None:
    """The copied header rule and serialisation are the server's (webhooks/delivery.py)."""
    event = streamed(event_type)
    row = EventRow(uuid.UUID(event.id), event_type, MODELS[event_type], event.payload)
    assert delivery_headers(event) == event_headers(row)
    assert delivery_body(event.payload) == event_body(row)
    body, headers = signed_delivery(event, listen_secret("c", b"k"), int(time.time()))
    assert body == event_body(row)
    assert {k: headers[k] for k in event_headers(row)} == event_headers(row)


def test_a_feed_events_own_headers_are_used_as_they_are() -> None:
    given = {
        "Content-Type": "application/json",
        "z-event-type": "service.cancelled.event",
        "z-notification-type": "service.cancelled.notification",
        "z-notification-model": "a-model-the-rule-would-not-guess",
        "webhook-id": "e1",
    }
    event = Event("e1", "service.cancelled", {"serviceId": 1}, None, given, {})
    assert delivery_headers(event) == given


# --- server-sent events -------------------------------------------------------------------------


def read(lines: list[str], last_event_id: str | None = None) -> list[Message]:
    reader = MessageReader(last_event_id)
    return [m for m in (reader.feed(line) for line in lines) if m is not None]


def test_the_reader_dispatches_on_blank_lines_and_skips_comments() -> None:
    lines = [
        ": keep-alive",
        "",
        "id: e1",
        "event: service.cancelled",
        'data: {"a":1}',
        "",
        "id:e2",
        "event:appointment.cancelled",
        "data:first",
        "data: second",
        "unknown: field",
        "",
        "id: e3",  # an id without data: not dispatched, but it counts
        "",
        "data: x",
        "",
        "data: unfinished",
    ]
    assert read(lines) == [
        Message("service.cancelled", '{"a":1}', "e1"),
        Message("appointment.cancelled", "first\nsecond", "e2"),
        Message("message", "x", "e3"),
    ]


def test_the_reader_starts_from_the_given_last_event_id_and_ignores_ids_with_nul() -> None:
    assert read(["data: a", "", "id: bad\0id", "data: b", ""], "e0") == [
        Message("message", "a", "e0"),
        Message("message", "b", "e0"),
    ]


# --- stream_events over a scripted transport ----------------------------------------------------


class Dropping(httpx.AsyncByteStream):
    """A response body that sends its chunks, then fails as a dropped connection does."""

    def __init__(self, chunks: list[bytes], drop: bool) -> None:
        self.chunks = chunks
        self.drop = drop

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.drop:
            raise httpx.ReadError("connection reset by peer")


def sse(event_id: str, event_type: str, payload: dict[str, Any]) -> bytes:
    data = json.dumps(payload, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n".encode()


@dataclass
class Script:
    """Answers the token endpoint, then each stream request with the next scripted answer."""

    answers: list[Callable[[], httpx.Response]]
    streams: list[httpx.Request] = field(default_factory=list)
    tokens: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            self.tokens += 1
            body = {"access_token": f"tok{self.tokens}", "token_type": "Bearer", "expires_in": 300}
            return httpx.Response(200, json=body)
        assert request.url.path == "/api/connect/webhooks/events/stream"
        self.streams.append(request)
        return self.answers.pop(0)()


def ok(*chunks: bytes, drop: bool) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(
        200, headers={"Content-Type": "text/event-stream"}, stream=Dropping(list(chunks), drop)
    )


def client(script: Script) -> AsyncClient:
    transport = httpx.MockTransport(script)
    return AsyncClient(
        "http://cancelgate.test",
        client_id="cg_1",
        client_secret="s",
        http=httpx.AsyncClient(transport=transport),
        # Quick reconnection: the test waits on what arrives, not on time.
        poll=PollPolicy(initial=0.01, maximum=0.02),
    )


async def take(stream: AsyncIterator[Event], count: int) -> list[Event]:
    taken = []
    async for event in stream:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


async def test_a_dropped_stream_is_resumed_after_the_last_event_with_last_event_id() -> None:
    first, second, third = (str(uuid.uuid4()) for _ in range(3))
    script = Script(
        [
            ok(
                b": keep-alive\n\n",
                sse(first, "service.cancelled", {"serviceId": 1}),
                # The second message is cut off by the drop: never dispatched.
                sse(second, "service.cancelled", {"serviceId": 2})[:20],
                drop=True,
            ),
            lambda: httpx.Response(503, headers={"Retry-After": "0"}, text="busy"),
            ok(
                sse(second, "service.cancelled", {"serviceId": 2}),
                sse(third, "appointment.cancelled", {"id": 3}),
                drop=False,
            ),
        ]
    )
    updates: list[StreamUpdate] = []
    async with client(script) as api:
        stream = api.stream_events(type="service.cancelled", on_connection=updates.append)
        events = await take(stream, 3)
        await stream.aclose()
    assert [(e.id, e.type, e.payload) for e in events] == [
        (first, "service.cancelled", {"serviceId": 1}),
        (second, "service.cancelled", {"serviceId": 2}),
        (third, "appointment.cancelled", {"id": 3}),
    ]
    assert [r.headers.get("Last-Event-ID") for r in script.streams] == [None, first, first]
    for request in script.streams:
        assert request.url.params["type"] == "service.cancelled"
        assert request.headers["X-API-VERSION"] == "8"
        assert request.headers["Authorization"] == "Bearer tok1"
    assert [(u.connected, u.last_event_id, u.failures) for u in updates] == [
        (True, None, 0),
        (False, first, 1),
        (False, first, 2),
        (True, first, 0),
    ]
    assert "ReadError" in (updates[1].error or "")
    assert updates[2].error == "503 Service Unavailable"


async def test_a_refused_stream_raises_and_a_refused_token_is_renewed_once() -> None:
    error = {
        "httpStatusCode": 422,
        "type": "client.validation",
        "code": "method.argument.not.valid",
        "message": "Validation error",
        "apiSubErrors": [],
        "timestamp": "2026-01-01T00:00:00Z",
    }
    script = Script(
        [
            lambda: httpx.Response(401, json={"code": "client.access", "httpStatusCode": 401}),
            lambda: httpx.Response(422, json=error),
        ]
    )
    async with client(script) as api:
        with pytest.raises(ConnectApiError) as raised:
            await take(api.stream_events("e0"), 1)
    assert raised.value.status == 422 and raised.value.code == "method.argument.not.valid"
    assert [r.headers["Authorization"] for r in script.streams] == ["Bearer tok1", "Bearer tok2"]
    assert [r.headers["Last-Event-ID"] for r in script.streams] == ["e0", "e0"]
