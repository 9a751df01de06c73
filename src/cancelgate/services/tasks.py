"""The job that submits a service cancellation to the nbn, scheduled for 00:00 on its date."""

from __future__ import annotations

from cancelgate.auth.tenant_clock import clocks_of
from cancelgate.services import service
from cancelgate.services.scheduling import SUBMIT_TASK
from cancelgate.worker import Job, task


@task(SUBMIT_TASK)
async def submit_cancellation(job: Job, cancellation_id: int, submission: int) -> None:
    """Submit with the request's stable key (safe to run twice) and record the outcome; a job
    whose `submission` is no longer current (rescheduled, aborted) does nothing."""
    runtime = job.runtime
    await service.submit_cancellation(
        job.uow,
        cancellation_id=cancellation_id,
        submission=submission,
        nbn=runtime.nbn,
        clocks=clocks_of(runtime),
        attempts=job.attempts,
        max_attempts=runtime.settings.job_max_attempts,
        retry_base_seconds=runtime.settings.job_retry_base_seconds,
    )
