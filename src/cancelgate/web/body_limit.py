"""A limit on request bodies: 413 in the API's own error format, before anything is parsed."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cancelgate.web.error_formats import too_large_for

# How much of an oversized body is read and dropped so that its sender sees the 413.
DRAIN_BYTES = 4 * 1024 * 1024


async def drain(receive: Receive, limit: int) -> bool:
    """Read and drop the rest of a request body, up to limit bytes; True if it all came."""
    dropped = 0
    while dropped <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return False
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


class BodyTooLarge(Exception):
    """More bytes arrived than the limit allows; `complete` if the body has ended too."""

    def __init__(self, complete: bool) -> None:
        super().__init__("request body too large")
        self.complete = complete


def declared_length(scope: Scope) -> int | None:
    """The Content-Length the client declared, if it declared one that parses."""
    for name, value in scope["headers"]:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


class BodyLimitMiddleware:
    """Refuses a declared Content-Length over the limit at once, and stops reading a body
    (chunked, or longer than declared) as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            # A sender still sending when the answer comes and the connection closes may see a
            # reset instead of the 413: read (and drop) a bounded amount of the rest first.
            close = declared > DRAIN_BYTES or not await drain(receive, DRAIN_BYTES)
            await self._refuse(scope, receive, send, close=close)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(complete=not message.get("more_body", False))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            # Once the body has ended, receive() waits for the client to go: nothing to drain.
            close = not exc.complete and not await drain(receive, DRAIN_BYTES)
            await self._refuse(scope, receive, send, close=close)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, *, close: bool) -> None:
        response = too_large_for(str(scope.get("path", "")), self.max_bytes)
        if close:
            response.headers["Connection"] = "close"
        await response(scope, receive, send)
