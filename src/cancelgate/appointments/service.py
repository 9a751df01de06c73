"""Appointment cancellation use cases: request, read the outcome, finish (from the job)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.appointments import repository
from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.appointments.payloads import appointment_cancelled_payload
from cancelgate.appointments.repository import Outcome
from cancelgate.auth.principal import Principal
from cancelgate.domain.appointments import (
    AppointmentStatus,
    CancellationStatus,
    can_finish,
    cancellation_in_progress,
    refusal_for_nbn_check,
    request_refusal,
)
from cancelgate.domain.errors import NotFound, RuleViolation, UpstreamUnavailable
from cancelgate.events.repository import record_event
from cancelgate.jobs.app import defer_in
from cancelgate.runtime import Runtime
from cancelgate.upstream.nbn.port import CancelAccepted, CancelOutcome, NbnUnavailable

log = structlog.get_logger(__name__)

SUBMIT_TASK = "appointments.submit_cancellation"
APPOINTMENT_CANCELLED = "appointment.cancelled"


async def _requestable_appointment(
    session: AsyncSession, principal: Principal, appointment_id: int, *, lock: bool = False
) -> Appointment:
    """The caller's appointment if the local rules allow a new request; else NotFound or 422."""
    found = await repository.appointment_for_tenant(
        session, principal.tenant_id, appointment_id, lock=lock
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
    runtime: Runtime, *, principal: Principal, appointment_id: int
) -> int:
    """Check the rules and the nbn, then store the request and defer its job atomically."""
    async with runtime.sessions() as session:
        appointment = await _requestable_appointment(session, principal, appointment_id)
    try:
        check = await runtime.nbn.check_cancellable(
            nbn_appointment_id=appointment.nbn_appointment_id
        )
    except NbnUnavailable as exc:
        log.warning("nbn_unavailable", appointment_id=appointment_id, error=str(exc))
        raise UpstreamUnavailable(str(exc)) from exc
    refusal = refusal_for_nbn_check(check, appointment.nbn_internal_appointment_id)
    if refusal is not None:
        raise RuleViolation([refusal])
    return await _store_request(runtime, principal=principal, appointment_id=appointment.id)


async def _store_request(runtime: Runtime, *, principal: Principal, appointment_id: int) -> int:
    try:
        async with runtime.sessions.begin() as session:
            # The row lock serialises concurrent requests for one appointment; the partial
            # unique index is the last word if anything slips past it.
            appointment = await _requestable_appointment(
                session, principal, appointment_id, lock=True
            )
            cancellation = AppointmentCancellation(
                tenant_id=principal.tenant_id,
                appointment_id=appointment.id,
                client_id=principal.client_pk,
                status=CancellationStatus.IN_PROGRESS.value,
                request_key=uuid.uuid4(),
                requested_on=datetime.now(UTC),
            )
            session.add(cancellation)
            await session.flush()
            await defer_in(session, SUBMIT_TASK, cancellation_id=cancellation.id)
    except IntegrityError as exc:
        raise RuleViolation([cancellation_in_progress(appointment_id)]) from exc
    log.info("appointment_cancellation_requested", cancellation_id=cancellation.id)
    return cancellation.id


async def get_cancellation(
    runtime: Runtime, *, principal: Principal, cancellation_id: int
) -> Outcome:
    """The caller's cancellation request as its status shows it, or NotFound."""
    outcome = await repository.outcome_for_tenant(
        runtime.reads, principal.tenant_id, cancellation_id
    )
    if outcome is None:
        raise NotFound(cancellation_id)
    return outcome


async def load_for_processing(
    runtime: Runtime, cancellation_id: int
) -> tuple[AppointmentCancellation, Appointment] | None:
    """The cancellation the job should submit, or None when there is nothing left to do."""
    async with runtime.sessions() as session:
        row = await repository.cancellation_with_appointment(session, cancellation_id)
    if row is None or not can_finish(row[0].status):
        return None
    return row


async def finish_cancellation(
    runtime: Runtime, *, cancellation_id: int, outcome: CancelOutcome
) -> None:
    """Record the nbn's answer; on success also cancel the appointment and record the event."""
    async with runtime.sessions.begin() as session:
        row = await repository.cancellation_with_appointment(session, cancellation_id, lock=True)
        if row is None or not can_finish(row[0].status):
            return  # a previous run of this job already finished it
        cancellation, appointment = row
        if isinstance(outcome, CancelAccepted):
            cancellation.status = CancellationStatus.COMPLETED.value
            cancellation.cancelled_on = outcome.cancelled_at
            appointment.status = AppointmentStatus.CANCELLED.value
            appointment.cancelled_on = outcome.cancelled_at
            await record_event(
                session,
                tenant_id=appointment.tenant_id,
                event_type=APPOINTMENT_CANCELLED,
                model="appointment",
                subject_id=appointment.id,
                payload=appointment_cancelled_payload(appointment),
            )
        else:
            cancellation.status = CancellationStatus.FAILED.value
            cancellation.failure_message = outcome.message
    log.info(
        "appointment_cancellation_finished",
        cancellation_id=cancellation_id,
        status=cancellation.status,
    )
