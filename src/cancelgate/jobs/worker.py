"""Running a procrastinate worker with this installation's settings."""

from __future__ import annotations

import asyncio
import contextlib

from cancelgate.jobs.context import set_current
from cancelgate.runtime import Runtime


async def run_worker(
    runtime: Runtime, *, concurrency: int, install_signal_handlers: bool, name: str = "worker"
) -> None:
    """Process jobs until cancelled or (with signal handlers) SIGTERM/SIGINT."""
    set_current(runtime)
    settings = runtime.settings
    await runtime.jobs.run_worker_async(
        name=name,
        concurrency=concurrency,
        install_signal_handlers=install_signal_handlers,
        update_heartbeat_interval=settings.worker_heartbeat_seconds,
        fetch_job_polling_interval=settings.worker_poll_seconds,
        stalled_worker_timeout=settings.stalled_after_seconds,
        shutdown_graceful_timeout=30,
    )


async def stop_worker(task: asyncio.Task[None]) -> None:
    """Cancel an in-process worker and wait for it to let go of its jobs."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
