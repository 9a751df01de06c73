"""The auth context's housekeeping: forget the ids of client assertions that have expired."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from cancelgate.auth.repository import forget_expired_assertions as forget_expired
from cancelgate.jobs.app import jobs_app
from cancelgate.worker import Job, task

log = structlog.get_logger(__name__)


@jobs_app.periodic(cron="*/5 * * * *", periodic_id="assertions")
@task("maintenance.forget_expired_assertions", queueing_lock="forget_assertions")
async def forget_expired_assertions(job: Job, timestamp: int) -> None:
    """Every 5 min: drop client-assertion ids that can no longer be replayed."""
    # Assertions expire on the real clock (their `exp`), not the business one.
    removed = await forget_expired(job.uow, datetime.now(UTC))
    log.info("expired_assertions_forgotten", count=removed)
