"""The job that makes one attempt of a webhook delivery."""

from __future__ import annotations

from cancelgate.webhooks import delivery
from cancelgate.webhooks.events import DELIVER_TASK
from cancelgate.worker import Job, task


@task(DELIVER_TASK)
async def deliver(job: Job, delivery_id: int) -> None:
    """One attempt of a delivery; the next is scheduled if this one did not succeed."""
    runtime = job.runtime
    settings = runtime.settings
    await delivery.attempt(
        job.uow,
        delivery_id=delivery_id,
        http=runtime.webhook_http,
        sealing_key=runtime.keys.sealing_key,
        retry_schedule=settings.webhook_retry_schedule,
        disable_after_seconds=settings.webhook_disable_after_seconds,
    )
