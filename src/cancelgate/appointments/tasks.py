"""The job that submits an appointment cancellation to the nbn."""

from __future__ import annotations

from cancelgate.appointments import service
from cancelgate.auth.tenant_clock import clocks_of
from cancelgate.worker import Job, task


@task(service.SUBMIT_TASK)
async def submit_cancellation(job: Job, cancellation_id: int) -> None:
    """Submit with the request's stable key (safe to run twice), then record the outcome."""
    settings = job.runtime.settings
    await service.submit_cancellation(
        job.uow,
        cancellation_id=cancellation_id,
        nbn=job.runtime.nbn,
        clocks=clocks_of(job.runtime),
        attempts=job.attempts,
        max_attempts=settings.job_max_attempts,
        retry_base_seconds=settings.job_retry_base_seconds,
    )
