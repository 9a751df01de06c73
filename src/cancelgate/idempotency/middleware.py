"""Idempotency-Key on every Connect POST: the first response is kept and replayed for 24 h."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cancelgate.auth.identity import Principal
from cancelgate.auth.principal import (
    PRINCIPAL_SCOPE_KEY,
    Authenticator,
    bearer_token_of,
    issuer_of,
)
from cancelgate.auth.tokens import InvalidToken
from cancelgate.connect.errors import BUSINESS_RULE, CLIENT_VALIDATION, ConnectError
from cancelgate.connect.idempotency_key import HEADER
from cancelgate.connect.openapi import CONNECT_PREFIX
from cancelgate.connect.versions import DEPRECATED_SCOPE_KEY, deprecation_headers
from cancelgate.db.database import Database
from cancelgate.idempotency import repository
from cancelgate.idempotency.keys import (
    Decision,
    decide,
    fingerprint,
    replayed_headers,
    valid_key,
    worth_keeping,
)
from cancelgate.idempotency.repository import Claim, KeyRow
from cancelgate.json_input import single
from cancelgate.observability import metrics
from cancelgate.runtime import Runtime

log = structlog.get_logger(__name__)

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


# A key released between our claim and our read of it is claimed again, this often at most.
CLAIM_ROUNDS = 3


async def claim(
    database: Database, *, tenant_id: int, key: str, digest: str, now: datetime
) -> Claim | tuple[Decision, KeyRow | None]:
    """Take the key for this request, or what its record decides (and the record).

    Its own short unit, committed before the request runs: in the common case the one INSERT.
    On a conflict, one read, and for a take-over one UPDATE that wins only if the record is
    still what was read (of two concurrent take-overs, the other is told the key is in flight).
    """
    async with database.unit_of_work() as uow:
        for _ in range(CLAIM_ROUNDS):
            taken = await repository.claim(
                uow, tenant_id=tenant_id, key=key, fingerprint=digest, now=now
            )
            if taken is not None:
                return taken
            record = await repository.recorded(uow, tenant_id=tenant_id, key=key)
            if record is None:
                continue  # released (or forgotten) since the INSERT: claim it again
            decision = decide(record.recorded(), digest, now)
            if decision != Decision.TAKE_OVER:
                return decision, record
            taken = await repository.take_over(uow, record, fingerprint=digest, now=now)
            return taken if taken is not None else (Decision.IN_FLIGHT, None)
    return Decision.IN_FLIGHT, None


async def complete(
    database: Database,
    taken: Claim,
    *,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Keep the response for replays: one UPDATE, in its own unit."""
    async with database.unit_of_work() as uow:
        await repository.complete(uow, taken, status=status, headers=headers, body=body)


async def release(database: Database, taken: Claim) -> None:
    """Forget the key so that a retry runs again: one DELETE, in its own unit."""
    async with database.unit_of_work() as uow:
        await repository.release(uow, taken)


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
        principal = await _principal_of(scope, headers)
        if principal is None:
            # Unauthenticated: the route answers 401 as to any caller, and nothing is kept.
            await self.app(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        body = await _read_body(receive)
        version = next((v for k, v in headers if k == "x-api-version"), "")
        digest = fingerprint("POST", scope["path"], version, body)
        claimed = await claim(
            runtime.database,
            tenant_id=principal.tenant_id,
            key=key,
            digest=digest,
            now=datetime.now(UTC),
        )
        if isinstance(claimed, Claim):
            await self._run_first(scope, body, receive, send, runtime, claimed)
            return
        decision, record = claimed
        if decision == Decision.REPLAY and record is not None:
            metrics.count_idempotent_replay()
            await _replay(record, send)
            return
        if decision == Decision.REUSED:
            await key_reused().response()(scope, receive, send)
            return
        await key_in_flight().response()(scope, receive, send)

    async def _run_first(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        runtime: Runtime,
        taken: Claim,
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
        settled = False

        async def settle() -> None:
            """Keep the response for replays, or free the key if it is not final."""
            nonlocal settled
            settled = True
            if not worth_keeping(status):
                await release(runtime.database, taken)
                return
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
            await complete(
                runtime.database, taken, status=status, headers=kept, body=b"".join(chunks)
            )

        async def keep(message: Message) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_headers = [
                    (k.decode("latin-1"), v.decode("latin-1")) for k, v in message["headers"]
                ]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    # Before the caller has the whole answer: a retry sent the moment it arrives
                    # finds the key kept (or free again), never still in flight.
                    try:
                        await settle()
                    except Exception:
                        # The answer still goes out; the key's lock lapses in time.
                        log.exception("idempotency_key_not_settled", status=status)
            await send(message)

        try:
            await self.app(scope, replay_body, keep)
        except BaseException:
            if not settled:
                await release(runtime.database, taken)
            raise
        if not settled:
            await settle()


async def _principal_of(scope: Scope, headers: list[tuple[str, str]]) -> Principal | None:
    """The caller the bearer token stands for, or None (no token, or one the route refuses)."""
    token = bearer_token_of(single([v for k, v in headers if k == "authorization"]))
    if token is None:
        return None
    authenticator: Authenticator = scope["app"].state.authenticator
    try:
        return await authenticator.principal(token, issuer_of(Request(scope)))
    except InvalidToken:
        return None


async def _replay(record: KeyRow, send: Send) -> None:
    """The first response again, marked as a replay."""
    body = record.response_body or b""
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record.response_headers or []]
    raw += [(b"content-length", str(len(body)).encode()), REPLAYED]
    status = record.response_status or 500
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
