"""Periodic housekeeping: retry jobs of dead workers, forget expired assertion ids and keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.repository import forget_expired_assertions
from cancelgate.idempotency.repository import forget_expired as forget_expired_keys
from cancelgate.jobs.app import jobs_app
from cancelgate.jobs.context import current

log = structlog.get_logger(__name__)


async def recover_stalled_jobs() -> int:
    """Put back the jobs of workers that stopped sending heartbeats (killed, frozen)."""
    runtime = current()
    stalled = await runtime.jobs.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=runtime.settings.stalled_after_seconds
    )
    count = 0
    for job in stalled:
        await runtime.jobs.job_manager.retry_job(job)
        log.warning("stalled_job_retried", job_id=job.id, task=job.task_name)
        count += 1
    return count


# Seconds are the sixth (last) column in procrastinate cron strings.
@jobs_app.periodic(cron="* * * * * */10", periodic_id="stalled")
@jobs_app.task(name="maintenance.recover_stalled_jobs", queueing_lock="recover_stalled_jobs")
async def recover_stalled_jobs_task(timestamp: int) -> None:
    """Every 10 s: retry the jobs of dead workers."""
    await recover_stalled_jobs()


async def _forget(
    forget: Callable[[AsyncSession, datetime], Awaitable[int]], logged_as: str
) -> None:
    """Run one expiry sweep in its own transaction and log how many rows it removed."""
    async with current().sessions.begin() as session:
        removed = await forget(session, datetime.now(UTC))
    log.info(logged_as, count=removed)


@jobs_app.periodic(cron="*/5 * * * *", periodic_id="assertions")
@jobs_app.task(name="maintenance.forget_expired_assertions", queueing_lock="forget_assertions")
async def forget_expired_assertions_task(timestamp: int) -> None:
    """Every 5 min: drop client-assertion ids that can no longer be replayed."""
    await _forget(forget_expired_assertions, "expired_assertions_forgotten")


@jobs_app.periodic(cron="17 * * * *", periodic_id="idempotency")
@jobs_app.task(name="maintenance.forget_expired_idempotency_keys", queueing_lock="forget_keys")
async def forget_expired_idempotency_keys_task(timestamp: int) -> None:
    """Hourly: drop Idempotency-Keys past their 24 hours."""
    await _forget(forget_expired_keys, "expired_idempotency_keys_forgotten")
