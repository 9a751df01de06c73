"""When a service cancellation goes to the nbn: its submission job, scheduled transactionally."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.clock import Clock, start_of_day
from cancelgate.jobs.app import defer_in
from cancelgate.services.models import ServiceCancellation

SUBMIT_TASK = "services.submit_cancellation"


def submission_time(day: date, zone: ZoneInfo, now: datetime) -> datetime:
    """00:00 of the cancellation date in the business time zone, or now if that has passed."""
    return max(start_of_day(day, zone), now)


async def drop_pending_job(session: AsyncSession, cancellation: ServiceCancellation) -> None:
    """Make any earlier submission job stale, and delete it if it has not started yet."""
    cancellation.submission += 1  # a job acts only if it carries the current number
    cancellation.submit_at = None
    if cancellation.submission_job_id is not None:
        await session.execute(
            text("SELECT procrastinate_cancel_job_v1(:job_id, false, true)"),
            {"job_id": cancellation.submission_job_id},
        )
        cancellation.submission_job_id = None


async def schedule_submission(
    session: AsyncSession, clock: Clock, cancellation: ServiceCancellation, at: datetime
) -> None:
    """Replace any pending submission job by one due at `at`, in the caller's transaction."""
    await drop_pending_job(session, cancellation)
    cancellation.submit_at = at
    if cancellation.id is None:
        await session.flush()  # the job needs the row's id
    job_id = await defer_in(
        session,
        SUBMIT_TASK,
        # procrastinate compares with the database's clock: convert from ours.
        schedule_at=clock.to_real(at) if at > clock.now() else None,
        cancellation_id=cancellation.id,
        submission=cancellation.submission,
    )
    cancellation.submission_job_id = job_id
