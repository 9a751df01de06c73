"""The job that submits an appointment cancellation to the nbn."""

from __future__ import annotations

import structlog
from procrastinate import JobContext

from cancelgate.appointments.service import SUBMIT_TASK, finish_cancellation, load_for_processing
from cancelgate.jobs.app import jobs_app
from cancelgate.jobs.context import current
from cancelgate.jobs.retry import UpstreamRetry, is_last_attempt
from cancelgate.upstream.nbn.port import CancelOutcome, CancelRefused, NbnUnavailable

log = structlog.get_logger(__name__)

GAVE_UP = "The nbn could not be reached to cancel the appointment; no cancellation was made."


@jobs_app.task(name=SUBMIT_TASK, pass_context=True, retry=UpstreamRetry())
async def submit_cancellation(context: JobContext, cancellation_id: int) -> None:
    """Submit with the request's stable key (safe to run twice), then record the outcome."""
    runtime = current()
    row = await load_for_processing(runtime, cancellation_id)
    if row is None:
        return
    cancellation, appointment = row
    outcome: CancelOutcome
    try:
        outcome = await runtime.nbn.cancel(
            nbn_appointment_id=appointment.nbn_appointment_id,
            request_key=str(cancellation.request_key),
        )
    except NbnUnavailable as exc:
        attempts = context.job.attempts
        log.warning("nbn_unavailable", cancellation_id=cancellation_id, attempts=attempts)
        if not is_last_attempt(attempts, runtime.settings.job_max_attempts):
            raise
        log.error("nbn_gave_up", cancellation_id=cancellation_id, error=str(exc))
        outcome = CancelRefused(GAVE_UP)
    await finish_cancellation(runtime, cancellation_id=cancellation_id, outcome=outcome)
