"""Idempotency-Key on every Connect POST: the first response is kept and replayed for 24 h."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cancelgate.auth.principal import (
    PRINCIPAL_SCOPE_KEY,
    Principal,
    authenticate,
    bearer_token_of,
    issuer_of,
)
from cancelgate.auth.tokens import InvalidToken
from cancelgate.connect.errors import BUSINESS_RULE, CLIENT_VALIDATION, ConnectError
from cancelgate.connect.middleware import deprecation_headers
from cancelgate.connect.openapi import CONNECT_PREFIX
from cancelgate.connect.versions import DEPRECATED_SCOPE_KEY
from cancelgate.idempotency import repository
from cancelgate.idempotency.keys import (
    HEADER,
    Decision,
    fingerprint,
    replayed_headers,
    valid_key,
    worth_keeping,
)
from cancelgate.idempotency.models import IdempotencyRecord
from cancelgate.json_input import single
from cancelgate.runtime import Runtime

REPLAYED = (b"idempotent-replayed", b"true")


def invalid_key() -> ConnectError:
    """400 for a malformed, empty or repeated Idempotency-Key header."""
    return ConnectError(
        400,
        CLIENT_VALIDATION,
        "idempotency.key.invalid",
        "Idempotency-Key must be sent once, as 1 to 255 visible ASCII characters",
    )


def key_reused() -> ConnectError:
    """422: the key was first sent with another request."""
    return ConnectError(
        422,
        CLIENT_VALIDATION,
        "idempotency.key.reused",
        "This Idempotency-Key was already used for a different request",
    )


def key_in_flight() -> ConnectError:
    """409: the first request with this key has not been answered yet."""
    return ConnectError(
        409,
        BUSINESS_RULE,
        "idempotency.key.in.progress",
        "A request with this Idempotency-Key is still being processed",
        headers={"Retry-After": "1"},
    )


def _text_headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # Gone before the body was complete: nothing is claimed for half a request.
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class IdempotencyMiddleware:
    """Keys are per tenant; requests without a key, or without a valid token, pass untouched
    (the endpoint answers them as usual)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(CONNECT_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        headers = _text_headers(scope)
        values = [value for name, value in headers if name == HEADER]
        if not values:
            await self.app(scope, receive, send)
            return
        key = valid_key(values)
        if key is None:
            await invalid_key().response()(scope, receive, send)
            return
        runtime: Runtime = scope["app"].state.runtime
        principal = await _principal_of(runtime, scope, headers)
        if principal is None:
            # Unauthenticated: the route answers 401 as to any caller, and nothing is kept.
            await self.app(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        body = await _read_body(receive)
        version = next((v for k, v in headers if k == "x-api-version"), "")
        digest = fingerprint("POST", scope["path"], version, body)
        decision, record = await repository.claim(
            runtime.sessions,
            tenant_id=principal.tenant_id,
            key=key,
            fingerprint=digest,
            now=datetime.now(UTC),
        )
        if decision == Decision.REPLAY:
            await _replay(record, send)
            return
        if decision == Decision.REUSED:
            await key_reused().response()(scope, receive, send)
            return
        if decision == Decision.IN_FLIGHT:
            await key_in_flight().response()(scope, receive, send)
            return
        await self._run_first(scope, body, receive, send, runtime, record.id)

    async def _run_first(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        runtime: Runtime,
        record_id: int,
    ) -> None:
        """Run the request, passing its response through while keeping a copy."""
        delivered = False

        async def replay_body() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500
        response_headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, keep)
        except BaseException:
            await repository.release(runtime.sessions, record_id)
            raise
        if worth_keeping(status):
            kept = replayed_headers(response_headers)
            if scope.get(DEPRECATED_SCOPE_KEY):
                # Added on the way out, after this middleware: kept here so a replay repeats them.
                settings = runtime.settings
                kept += [
                    (name.decode(), value.decode())
                    for name, value in deprecation_headers(
                        settings.deprecation_date, settings.deprecation_link
                    )
                ]
            await repository.complete(
                runtime.sessions,
                record_id,
                status=status,
                headers=kept,
                body=b"".join(chunks),
            )
        else:
            await repository.release(runtime.sessions, record_id)


async def _principal_of(
    runtime: Runtime, scope: Scope, headers: list[tuple[str, str]]
) -> Principal | None:
    token = bearer_token_of(single([v for k, v in headers if k == "authorization"]))
    if token is None:
        return None
    try:
        return await authenticate(runtime, token, issuer_of(Request(scope)))
    except InvalidToken:
        return None


async def _replay(record: IdempotencyRecord, send: Send) -> None:
    """The first response again, marked as a replay."""
    body = record.response_body or b""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record.response_headers or []]
    raw += [(b"content-length", str(len(body)).encode()), REPLAYED]
    status = record.response_status or 500
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
