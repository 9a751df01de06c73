"""The events feed and the event stream: a tenant's events in order, as its webhooks carry them,
for callers that pull (`GET …/webhooks/events`) or keep a stream open (`…/events/stream`).

Order. Events are read in (txid, seq) order (migration 0008): the writing transaction, then the
number taken on insert. Only *settled* events are shown: those whose transaction is older than
every transaction still running (`pg_snapshot_xmin` of the reading statement's own snapshot).
An event that commits later therefore always sorts after every event already shown, so a
cursor never skips one (ordering by seq alone would: seq is taken at insert, not at commit).
An event committed behind an older transaction that is still running is *held* until that one
ends, usually milliseconds.

Stream. Each open stream is one entry in the process's listener (one LISTEN connection for
every stream and long poll), woken by the `cancelgate_events` notification of its tenant; on
each wake it reads what is new with one short query on a pooled connection, sends it, and holds
no connection while it waits. While an event is held back (no notification will say when it
settles) it looks again after a short, growing pause. After HEARTBEAT_SECONDS without a message
it sends a `: keep-alive` comment. A caller that goes away frees its entry at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    cast,
    func,
    select,
    tuple_,
)
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from cancelgate.connect.errors import SERVER_INTERNAL, ConnectError
from cancelgate.db.database import Database, UnitOfWork, compiled
from cancelgate.db.listener import Full, Listener, events_key
from cancelgate.domain.errors import RuleViolation, SubError
from cancelgate.webhooks.delivery import event_body
from cancelgate.webhooks.models import Event
from cancelgate.webhooks.repository import EventRow
from cancelgate.webhooks.schemas import EVENT_TYPES

# What the feed shows: every event a subscription can receive (not `webhook.test`, which goes
# to one subscription only).
FEED_TYPES = EVENT_TYPES
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Seconds without a message after which a stream sends a `: keep-alive` comment (read at each
# wait: tests shorten it).
HEARTBEAT_SECONDS = 15.0
# While an event is held back, a stream looks again after this pause, doubling up to the max.
RECHECK_SECONDS = 0.05
RECHECK_MAX_SECONDS = 1.0
# Events a stream reads at a time (it reads on until it has sent every settled one).
STREAM_PAGE = 100
KEEP_ALIVE = b": keep-alive\n\n"
# How long a caller refused for want of room should wait before trying again.
BUSY_RETRY_SECONDS = 5


@dataclass(frozen=True, order=True)
class Position:
    """Where an event sorts in a tenant's feed; a cursor is the position of the last one seen."""

    txid: int
    seq: int


# Before every event (backfilled events have txid 0).
START = Position(-1, 0)


@dataclass(frozen=True)
class FeedEvent:
    """An event as the feed shows it."""

    event: EventRow
    occurred_at: datetime
    position: Position


@dataclass(frozen=True)
class Page:
    """Settled events after a position, in order; whether more settled ones follow the page; and
    whether committed events wait behind an older transaction (held: shown once it ends)."""

    events: list[FeedEvent]
    more: bool
    held: bool


# The oldest transaction still running when the statement's snapshot was taken: everything
# written by older transactions is settled in it, committed (visible) or not.
_HORIZON = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
_AFTER = tuple_(bindparam("txid", type_=BigInteger), bindparam("seq", type_=BigInteger))

EVENTS_AFTER = compiled(
    select(
        Event.id,
        Event.type,
        Event.model,
        Event.payload,
        Event.occurred_at,
        Event.txid,
        Event.seq,
        (Event.txid < _HORIZON).label("settled"),
    )
    .where(
        Event.tenant_id == bindparam("tenant_id"),
        tuple_(Event.txid, Event.seq) > _AFTER,
        Event.type == any_(bindparam("types", type_=ARRAY(String))),
    )
    .order_by(Event.txid, Event.seq)
    .limit(bindparam("limit", type_=Integer))
)
POSITION_OF = compiled(
    select(Event.txid, Event.seq).where(
        Event.id == bindparam("event_id"), Event.tenant_id == bindparam("tenant_id")
    )
)
HORIZON = compiled(select(_HORIZON))


async def read_page(
    uow: UnitOfWork, *, tenant_id: int, types: tuple[str, ...], after: Position, limit: int
) -> Page:
    """Up to `limit` settled events of the tenant after `after`, in order (one statement)."""
    params = {
        "tenant_id": tenant_id,
        "txid": after.txid,
        "seq": after.seq,
        "types": list(types),
        "limit": limit + 1,
    }
    events: list[FeedEvent] = []
    held = False
    for id_, type_, model, payload, occurred_at, txid, seq, settled in await uow.all(
        EVENTS_AFTER, params
    ):
        if not settled:
            # Every later row is unsettled too: (txid, seq) order puts settled ones first.
            held = True
            break
        events.append(
            FeedEvent(EventRow(id_, type_, model, payload), occurred_at, Position(txid, seq))
        )
    return Page(events[:limit], more=len(events) > limit, held=held)


def unknown_event(event_id: uuid.UUID, object_name: str, field: str) -> RuleViolation:
    """422 for a cursor that names no event of the caller's (the same for another's)."""
    message = "must be the id of one of your events"
    return RuleViolation(
        [
            SubError(
                "constraints.webhook.event.not.found", message, object_name, field, str(event_id)
            )
        ]
    )


async def position_of(
    uow: UnitOfWork, *, tenant_id: int, event_id: uuid.UUID, object_name: str, field: str
) -> Position:
    """Where the tenant's event sorts; 422 if it is not one of the tenant's events."""
    row = await uow.one(POSITION_OF, {"event_id": event_id, "tenant_id": tenant_id})
    if row is None:
        raise unknown_event(event_id, object_name, field)
    return Position(int(row[0]), int(row[1]))


async def now_position(uow: UnitOfWork) -> Position:
    """A position before every event not settled yet: a stream that starts here sends every
    event that settles from now on, and none that had settled before."""
    horizon = await uow.scalar(HORIZON)
    return Position(int(horizon), 0)


def sse_message(event: EventRow) -> bytes:
    """One event as a server-sent event: its id (to resume from), type, and the payload as
    deliveries send it (JSON on one line)."""
    return b"id: %s\nevent: %s\ndata: %s\n\n" % (
        str(event.id).encode(),
        event.type.encode(),
        event_body(event),
    )


def busy() -> ConnectError:
    """503 when the process already holds as many streams and long polls as it may."""
    return ConnectError(
        503,
        SERVER_INTERNAL,
        "server.busy",
        "Too many open streams on this server; try again later",
        headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
    )


async def _gone(receive: Receive) -> None:
    """Returns when the caller disconnects (a GET's body has long been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStream:
    """One caller's stream of a tenant's events from a position: its place in the listener
    while open (`open`, `close`) and the messages it sends (`messages`)."""

    def __init__(
        self,
        *,
        database: Database,
        listener: Listener,
        tenant_id: int,
        types: tuple[str, ...],
        after: Position,
    ) -> None:
        self._database = database
        self._listener = listener
        self._key = events_key(tenant_id)
        self._tenant_id = tenant_id
        self._types = types
        self._position = after
        self._woken: asyncio.Event | None = None

    def open(self) -> None:
        """Take a place in the listener (before the first read: no notification is missed);
        `Full` when the process holds as many as it may."""
        self._woken = self._listener.register(self._key)

    def close(self) -> None:
        """Give the place back (idempotent)."""
        if self._woken is not None:
            self._listener.release(self._key, self._woken)
            self._woken = None

    async def _read(self) -> Page:
        async with self._database.unit_of_work() as uow:
            return await read_page(
                uow,
                tenant_id=self._tenant_id,
                types=self._types,
                after=self._position,
                limit=STREAM_PAGE,
            )

    async def messages(self, receive: Receive) -> AsyncGenerator[bytes, None]:
        """Every event after the position as it settles, and keep-alive comments, until the
        caller goes away."""
        woken = self._woken
        assert woken is not None, "open() the stream first"
        gone = asyncio.create_task(_gone(receive))
        recheck = RECHECK_SECONDS
        last_sent = time.monotonic()
        try:
            while True:
                woken.clear()  # before the read: a notification during it wakes us again
                page = await self._read()
                for found in page.events:
                    yield sse_message(found.event)
                    self._position = found.position
                if page.events:
                    last_sent = time.monotonic()
                if page.more:
                    continue
                timeout = last_sent + HEARTBEAT_SECONDS - time.monotonic()
                if page.held:
                    timeout = min(timeout, recheck)
                    recheck = min(recheck * 2, RECHECK_MAX_SECONDS)
                else:
                    recheck = RECHECK_SECONDS
                waiting = asyncio.create_task(woken.wait())
                try:
                    await asyncio.wait(
                        {waiting, gone},
                        timeout=max(timeout, 0),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    waiting.cancel()
                if gone.done():
                    return
                if time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                    yield KEEP_ALIVE
                    last_sent = time.monotonic()
        finally:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone


STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    """`text/event-stream` of an EventStream: its place in the listener is taken when the
    response starts (503 if there is none) and given back however the response ends."""

    media_type = "text/event-stream"

    def __init__(self, stream: EventStream, receive: Receive) -> None:
        self._messages = stream.messages(receive)
        super().__init__(self._messages, headers=STREAM_HEADERS)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            self.stream.open()
        except Full:
            await self._messages.aclose()  # never started: nothing to undo
            await busy().response()(scope, receive, send)
            return
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.stream.close()
