"""Waiting for a row to change without holding a connection: one LISTEN connection per process
wakes every request that waits on a key of its channels.

Writers need not know: triggers notify, in the writing transaction, whenever a watched status
changes (migration 0007: `cancelgate_outcomes`, "<kind>:<id>", waited on by long polls) and
whenever a tenant's event is recorded (migration 0008: `cancelgate_events`, "<tenant_id>:<seq>",
waited on by that tenant's event streams under `events_key(tenant_id)`); PostgreSQL delivers
them on commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import psycopg
import structlog
from psycopg import sql

from cancelgate.db.urls import libpq_url

log = structlog.get_logger(__name__)

# The channel the status triggers notify; payloads are "<kind>:<id>", the waiters' key.
CHANNEL = "cancelgate_outcomes"
# The channel the events trigger notifies; payloads are "<tenant_id>:<seq>".
EVENTS_CHANNEL = "cancelgate_events"
CHANNELS = (CHANNEL, EVENTS_CHANNEL)
RECONNECT_SECONDS = 1.0


def events_key(tenant_id: int | str) -> str:
    """The key that a tenant's new events wake."""
    return f"events:{tenant_id}"


def key_of(channel: str, payload: str) -> str:
    """The key a notification wakes: an outcome's payload itself; for an event, its tenant's."""
    if channel == EVENTS_CHANNEL:
        return events_key(payload.partition(":")[0])
    return payload


class Full(Exception):
    """As many requests (held long polls, open event streams) wait as this process allows."""


class Listener:
    """Keys that requests wait on, and the one connection that hears when they change."""

    def __init__(self, database_url: str, *, max_waiting: int) -> None:
        self._url = libpq_url(database_url)
        self.max_waiting = max_waiting
        self._waiting: dict[str, set[asyncio.Event]] = defaultdict(set)
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def waiting(self) -> int:
        """How many requests wait right now."""
        return self._count

    async def start(self) -> None:
        """Connect and listen; returns once listening (or after a first failed attempt)."""
        self._task = asyncio.create_task(self._run(), name="cancelgate-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=5)

    async def stop(self) -> None:
        """Stop listening and wake every waiter (they answer with what they have)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for events in self._waiting.values():
            for event in events:
                event.set()

    def register(self, key: str) -> asyncio.Event:
        """An event set when `key` is notified; `Full` when the process waits on too many."""
        if self._count >= self.max_waiting:
            raise Full()
        event = asyncio.Event()
        self._waiting[key].add(event)
        self._count += 1
        if not self._listening.is_set():
            # Without the connection nobody would wake it: it waits its time out instead.
            log.warning("listener_not_connected", key=key)
        return event

    def release(self, key: str, event: asyncio.Event) -> None:
        """Forget a waiter (done, timed out, or its caller went away)."""
        events = self._waiting.get(key)
        if events is None or event not in events:
            return
        events.discard(event)
        self._count -= 1
        if not events:
            del self._waiting[key]

    def _wake(self, key: str) -> None:
        for event in self._waiting.get(key, ()):
            event.set()

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, application_name="cancelgate-listener"
                ) as connection:
                    for channel in CHANNELS:
                        await connection.execute(
                            sql.SQL("LISTEN {}").format(sql.Identifier(channel))
                        )
                    self._listening.set()
                    # Whatever changed while we were not listening: let every waiter look again.
                    for key in list(self._waiting):
                        self._wake(key)
                    async for notification in connection.notifies():
                        self._wake(key_of(notification.channel, notification.payload))
            except psycopg.OperationalError as exc:
                self._listening.clear()
                log.warning("listener_reconnecting", error=str(exc))
                await asyncio.sleep(RECONNECT_SECONDS)
