"""Outermost ASGI middleware: a request id on every log line and response, security headers on
every response, and no raw 500s."""

from __future__ import annotations

import re
import uuid

import structlog
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cancelgate.connect.versions import DEPRECATED_SCOPE_KEY, deprecation_headers
from cancelgate.observability.tracing import tag_request
from cancelgate.rate_limits import HEADERS_SCOPE_KEY as RATE_LIMIT_HEADERS_KEY
from cancelgate.web.error_formats import internal_error_for

log = structlog.get_logger(__name__)

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-xss-protection", b"1; mode=block"),
    (b"cache-control", b"no-cache, no-store, max-age=0, must-revalidate"),
    (b"pragma", b"no-cache"),
    (b"expires", b"0"),
    (b"x-frame-options", b"DENY"),
]


REQUEST_ID_HEADER = b"x-request-id"
# A caller's own request id is kept when it is safe to log and echo; otherwise we make one.
VALID_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID when sent once and well-formed, else a new one."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == REQUEST_ID_HEADER]
    if len(values) == 1:
        value: str = values[0].decode("latin-1")
        if VALID_REQUEST_ID.fullmatch(value):
            return value
    return uuid.uuid4().hex


class SecurityHeadersMiddleware:
    """Adds the documented headers unless a handler set its own; turns crashes into 500s."""

    def __init__(self, app: ASGIApp, *, deprecated_since: str, deprecation_link: str) -> None:
        self.app = app
        self.deprecation = deprecation_headers(deprecated_since, deprecation_link)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        request_id = request_id_of(scope)
        tag_request(request_id)

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                if scope.get(DEPRECATED_SCOPE_KEY):
                    headers += self.deprecation
                # RateLimit-Policy and RateLimit of a limited operation (rate_limits.py).
                headers += scope.get(RATE_LIMIT_HEADERS_KEY, ())
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_headers)
            except ClientDisconnect:
                # The caller went away (e.g. the end of a load run): nobody to answer, no fault.
                log.info("client_disconnected", path=scope.get("path"), method=scope.get("method"))
            except Exception:
                log.exception("unhandled_error", path=scope.get("path"), method=scope.get("method"))
                if started:
                    raise
                response = internal_error_for(str(scope.get("path", "")))
                await response(scope, receive, send_with_headers)
