"""The waiting each driver does its own way: the token lock and the pause between attempts.

`AsyncLock` and `async_sleep` serve `AsyncClient`; the generated `Client` uses `SyncLock` and
`sync_sleep` in their place (the generator renames them), so it blocks its thread and never
needs an event loop.
"""

from __future__ import annotations

import asyncio
import threading
import time

AsyncLock = asyncio.Lock
SyncLock = threading.Lock


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sync_sleep(seconds: float) -> None:
    time.sleep(seconds)
