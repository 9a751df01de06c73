"""Periodic housekeeping of the job queue itself: retry the jobs of dead workers."""

from __future__ import annotations

import structlog

from cancelgate.jobs.app import jobs_app
from cancelgate.worker import Job, task

log = structlog.get_logger(__name__)


# Seconds are the sixth (last) column in procrastinate cron strings.
@jobs_app.periodic(cron="* * * * * */10", periodic_id="stalled")
@task("maintenance.recover_stalled_jobs", queueing_lock="recover_stalled_jobs")
async def recover_stalled_jobs(job: Job, timestamp: int) -> None:
    """Every 10 s: put back the jobs of workers that stopped sending heartbeats (killed, frozen)."""
    manager = job.runtime.jobs.job_manager
    stalled = await manager.get_stalled_jobs(
        seconds_since_heartbeat=job.runtime.settings.stalled_after_seconds
    )
    for stalled_job in stalled:
        await manager.retry_job(stalled_job)
        log.warning("stalled_job_retried", job_id=stalled_job.id, task=stalled_job.task_name)
