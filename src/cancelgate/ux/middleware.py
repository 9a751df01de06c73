"""X-Correlation-ID on the UX API: bound to every log line, echoed on the response."""

from __future__ import annotations

import re

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cancelgate.ux.errors import is_ux_path

HEADER = b"x-correlation-id"
# Printable ASCII, bounded: safe to log and to echo in a header.
VALID = re.compile(r"[\x21-\x7e]{1,200}")


def correlation_id(scope: Scope) -> str | None:
    """The request's X-Correlation-ID if present and well-formed, else None."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == HEADER]
    if len(values) != 1:
        return None
    value = values[0].decode("latin-1")
    return value if VALID.fullmatch(value) else None


class CorrelationIdMiddleware:
    """For UX paths: log context and response header carry the caller's correlation id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_ux_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        value = correlation_id(scope)
        if value is None:
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (HEADER, value.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=value):
            await self.app(scope, receive, send_with_id)
