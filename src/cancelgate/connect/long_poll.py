"""`Prefer: wait=N` (RFC 7240) on the status GETs: while the outcome is not final, the answer is
held until it is (woken by the database's notification, not a sleep loop) or N seconds pass.

A held request holds no database connection, only an entry in the process's listener; a caller
that goes away frees its entry at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from cancelgate.db.listener import Full, Listener

T = TypeVar("T")
HEADER = "prefer"
APPLIED = "Preference-Applied"
# RFC 7240 §4.3: `wait=<delta-seconds>`, among other preferences, in one or more headers.
WAIT = re.compile(r"(?:^|[,;])\s*wait\s*=\s*\"?(\d{1,10})\"?\s*(?=$|[,;])", re.IGNORECASE)


def requested_wait(request: Request, cap: int) -> int | None:
    """The seconds the caller is willing to wait (at most `cap`), or None if it asked none."""
    for value in request.headers.getlist(HEADER):
        match = WAIT.search(value)
        if match:
            return min(int(match.group(1)), cap)
    return None


async def _gone(receive: Receive) -> None:
    """Returns when the caller disconnects (a GET's body has long been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def hold(
    request: Request,
    listener: Listener,
    key: str,
    seconds: int,
    read: Callable[[], Awaitable[T]],
    pending: Callable[[T], bool],
) -> tuple[T, bool]:
    """The outcome once final or after `seconds`; and whether the wait was applied (False when
    the process already holds as many requests as it may: the answer is then immediate).

    The waiter is registered before the first read, so a change between the read and the wait
    is never missed.
    """
    try:
        woken = listener.register(key)
    except Full:
        return await read(), False
    deadline = time.monotonic() + seconds
    watcher = asyncio.create_task(_gone(request.receive))
    try:
        outcome = await read()
        while pending(outcome):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            waiting = asyncio.create_task(woken.wait())
            done, _ = await asyncio.wait(
                {waiting, watcher}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            waiting.cancel()
            if watcher in done:
                raise ClientDisconnect()
            woken.clear()
            outcome = await read()
        return outcome, True
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        listener.release(key, woken)
