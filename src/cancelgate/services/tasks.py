"""The scheduled job that submits a service cancellation to the nbn on its date."""

from __future__ import annotations

from cancelgate.jobs.app import jobs_app
from cancelgate.jobs.context import current
from cancelgate.services.scheduling import SUBMIT_TASK
from cancelgate.services.service import (
    finish_submission,
    start_submission,
    submission_failed,
)
from cancelgate.upstream.nbn.port import NbnUnavailable


@jobs_app.task(name=SUBMIT_TASK)
async def submit_cancellation(cancellation_id: int, submission: int) -> None:
    """Submit with the request's stable key (safe to run twice) and record the outcome.

    A job whose `submission` is no longer current (rescheduled, aborted) does nothing.
    """
    runtime = current()
    ticket = await start_submission(runtime, cancellation_id=cancellation_id, submission=submission)
    if ticket is None:
        return
    try:
        outcome = await runtime.nbn.cancel_service(
            nbn_service_id=ticket.nbn_service_id,
            cancellation_date=ticket.cancellation_date,
            request_key=ticket.request_key,
        )
    except NbnUnavailable as exc:
        await submission_failed(
            runtime, cancellation_id=cancellation_id, submission=submission, error=str(exc)
        )
        return
    await finish_submission(
        runtime, cancellation_id=cancellation_id, submission=submission, outcome=outcome
    )
