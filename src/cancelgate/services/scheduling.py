"""When a service cancellation goes to the nbn: its submission job, deferred in the unit that
changes the request, and the number that makes every earlier job stale."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from cancelgate.clock import Clock, start_of_day
from cancelgate.db.database import UnitOfWork
from cancelgate.jobs.app import defer
from cancelgate.services import repository
from cancelgate.services.repository import CancellationRow

SUBMIT_TASK = "services.submit_cancellation"


def submission_time(day: date, zone: ZoneInfo, now: datetime) -> datetime:
    """00:00 of the cancellation date in the business time zone, or now if that has passed."""
    return max(start_of_day(day, zone), now)


async def drop_pending_job(uow: UnitOfWork, cancellation: CancellationRow) -> CancellationRow:
    """Make every earlier submission job stale and delete the pending one if it has not started;
    the cancellation as it must then be saved."""
    if cancellation.submission_job_id is not None:
        await repository.cancel_job(uow, cancellation.submission_job_id)
    # A job acts only if it carries the current number.
    return replace(
        cancellation, submission=cancellation.submission + 1, submit_at=None, submission_job_id=None
    )


async def schedule_submission(
    uow: UnitOfWork, clock: Clock, cancellation: CancellationRow, at: datetime
) -> CancellationRow:
    """Replace any pending submission job by one due at `at`, in the unit's transaction; the
    cancellation with its new submission number, time and job, to be saved by the caller."""
    dropped = await drop_pending_job(uow, cancellation)
    job_id = await defer(
        uow,
        SUBMIT_TASK,
        # procrastinate compares with the database's clock: convert from ours.
        schedule_at=clock.to_real(at) if at > clock.now() else None,
        cancellation_id=dropped.id,
        submission=dropped.submission,
    )
    return replace(dropped, submit_at=at, submission_job_id=job_id)


async def bring_forward_submissions(uow: UnitOfWork, tenant_id: int, by: timedelta) -> int:
    """The tenant's clock moved forward by `by`: its waiting submissions fall due that much
    sooner (those now past their time run at once); how many moved."""
    return await repository.bring_forward_jobs(uow, tenant_id, by.total_seconds())
