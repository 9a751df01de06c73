"""Appointment cancellation use cases: request, read the outcome, and the job's submission.

Each takes the caller's unit of work and what else it needs as arguments; none commits.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from psycopg.errors import UniqueViolation

from cancelgate.appointments import repository
from cancelgate.appointments.repository import AppointmentRow, Outcome
from cancelgate.appointments.schemas import appointment_cancelled_body
from cancelgate.auth.identity import Principal
from cancelgate.auth.tenant_clock import TenantClocks
from cancelgate.db.database import UnitOfWork
from cancelgate.domain.appointments import (
    AppointmentStatus,
    CancellationStatus,
    can_finish,
    cancellation_in_progress,
    refusal_for_nbn_check,
    request_refusal,
)
from cancelgate.domain.errors import NotFound, RuleViolation, UpstreamUnavailable
from cancelgate.jobs.app import defer
from cancelgate.jobs.retry import retry_later
from cancelgate.upstream.nbn.port import (
    CancelAccepted,
    CancelOutcome,
    CancelRefused,
    NbnPort,
    NbnUnavailable,
)
from cancelgate.webhooks.events import record_event

log = structlog.get_logger(__name__)

SUBMIT_TASK = "appointments.submit_cancellation"
APPOINTMENT_CANCELLED = "appointment.cancelled"
GAVE_UP = "The nbn could not be reached to cancel the appointment; no cancellation was made."


async def _requestable(
    uow: UnitOfWork, principal: Principal, appointment_id: int, *, lock: bool = False
) -> AppointmentRow:
    """The caller's appointment if the local rules allow a new request; else NotFound or 422."""
    found = await repository.appointment_for_tenant(
        uow, principal.tenant_id, appointment_id, lock=lock
    )
    if found is None:
        raise NotFound(appointment_id)
    appointment, has_open = found
    refusal = request_refusal(
        appointment_id=appointment.id, status=appointment.status, has_open_cancellation=has_open
    )
    if refusal is not None:
        raise RuleViolation([refusal])
    return appointment


async def request_cancellation(
    uow: UnitOfWork,
    *,
    principal: Principal,
    appointment_id: int,
    nbn: NbnPort,
    now: datetime,
    idempotency_key: str | None,
) -> int:
    """Check the rules and the nbn, then store the request (with the client's Idempotency-Key,
    if any) and defer its job in the unit's transaction; the new request's id."""
    appointment = await _requestable(uow, principal, appointment_id)
    try:
        check = await nbn.check_cancellable(
            nbn_appointment_id=appointment.nbn_appointment_id, at=now
        )
    except NbnUnavailable as exc:
        log.warning("nbn_unavailable", appointment_id=appointment_id, error=str(exc))
        raise UpstreamUnavailable(str(exc)) from exc
    refusal = refusal_for_nbn_check(check, appointment.nbn_internal_appointment_id)
    if refusal is not None:
        raise RuleViolation([refusal])
    # The row lock serialises concurrent requests for one appointment; the partial unique
    # index is the last word if anything slips past it.
    await _requestable(uow, principal, appointment_id, lock=True)
    try:
        cancellation_id = await repository.add_cancellation(
            uow,
            tenant_id=principal.tenant_id,
            appointment_id=appointment_id,
            client_id=principal.client_pk,
            requested_on=now,
            idempotency_key=idempotency_key,
        )
    except UniqueViolation as exc:
        raise RuleViolation([cancellation_in_progress(appointment_id)]) from exc
    await defer(uow, SUBMIT_TASK, cancellation_id=cancellation_id)
    log.info("appointment_cancellation_requested", cancellation_id=cancellation_id)
    return cancellation_id


async def get_cancellation(
    uow: UnitOfWork, *, principal: Principal, cancellation_id: int
) -> Outcome:
    """The caller's cancellation request as its status shows it, or NotFound."""
    outcome = await repository.outcome_for_tenant(uow, principal.tenant_id, cancellation_id)
    if outcome is None:
        raise NotFound(cancellation_id)
    return outcome


async def submit_cancellation(
    uow: UnitOfWork,
    *,
    cancellation_id: int,
    nbn: NbnPort,
    clocks: TenantClocks,
    attempts: int,
    max_attempts: int,
    retry_base_seconds: float,
) -> None:
    """Submit with the request's stable key (safe to run twice), then record the outcome.

    An unreachable nbn asks for a retry (RetryLater) until the last attempt, which records
    that no cancellation was made.
    """
    found = await repository.cancellation_with_appointment(uow, cancellation_id)
    if found is None or not can_finish(found[0].status):
        return
    cancellation, appointment = found
    clock = await clocks.of(uow, appointment.tenant_id)
    outcome: CancelOutcome
    try:
        outcome = await nbn.cancel(
            nbn_appointment_id=appointment.nbn_appointment_id,
            request_key=str(cancellation.request_key),
            at=clock.now(),
        )
    except NbnUnavailable as exc:
        log.warning("nbn_unavailable", cancellation_id=cancellation_id, attempts=attempts)
        retry = retry_later(
            attempts, max_attempts=max_attempts, base_seconds=retry_base_seconds, reason=str(exc)
        )
        if retry is not None:
            raise retry from exc
        log.error("nbn_gave_up", cancellation_id=cancellation_id, error=str(exc))
        outcome = CancelRefused(GAVE_UP)
    await _finish(uow, cancellation_id, outcome)


async def _finish(uow: UnitOfWork, cancellation_id: int, outcome: CancelOutcome) -> None:
    """Record the nbn's answer; on success also cancel the appointment and record the event."""
    found = await repository.cancellation_with_appointment(uow, cancellation_id, lock=True)
    if found is None or not can_finish(found[0].status):
        return  # a previous run of this job already finished it
    _, appointment = found
    if isinstance(outcome, CancelAccepted):
        status = CancellationStatus.COMPLETED
        await repository.finish_cancellation(
            uow, cancellation_id, status=status, cancelled_on=outcome.cancelled_at
        )
        await repository.set_appointment_status(
            uow,
            appointment.id,
            status=AppointmentStatus.CANCELLED.value,
            cancelled_on=outcome.cancelled_at,
        )
        cancelled = appointment_cancelled_body(
            appointment, status=AppointmentStatus.CANCELLED.value, cancelled_on=outcome.cancelled_at
        ).model_dump()
        await record_event(
            uow,
            tenant_id=appointment.tenant_id,
            event_type=APPOINTMENT_CANCELLED,
            model="appointment",
            subject_id=appointment.id,
            payload=cancelled,
        )
    else:
        status = CancellationStatus.FAILED
        await repository.finish_cancellation(
            uow, cancellation_id, status=status, failure_message=outcome.message
        )
    log.info("appointment_cancellation_finished", cancellation_id=cancellation_id, status=status)
