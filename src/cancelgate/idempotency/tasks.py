"""The hourly sweep of Idempotency-Keys past their lifetime."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from cancelgate.idempotency.repository import forget_expired
from cancelgate.jobs.app import jobs_app
from cancelgate.worker import Job, task

log = structlog.get_logger(__name__)


@jobs_app.periodic(cron="17 * * * *", periodic_id="idempotency")
@task("maintenance.forget_expired_idempotency_keys", queueing_lock="forget_keys")
async def forget_expired_idempotency_keys(job: Job, timestamp: int) -> None:
    """Hourly: drop Idempotency-Keys past their 24 hours."""
    removed = await forget_expired(job.uow, datetime.now(UTC))
    log.info("expired_idempotency_keys_forgotten", count=removed)
