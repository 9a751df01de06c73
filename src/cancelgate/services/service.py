"""Service cancellation use cases: request, reschedule, abort, read; and the submission steps.

Every change to a service's cancellations holds the service's row lock, so writers (the API
and the submission job) are serialised per service and always lock in the same order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.principal import Principal
from cancelgate.domain.errors import NotFound, RuleViolation
from cancelgate.domain.services import (
    ServiceCancellationStatus,
    ServiceStatus,
    already_requested,
    change_refusal,
    is_eligible,
    may_submit,
    not_requested,
    request_refusal,
)
from cancelgate.events.repository import record_event
from cancelgate.jobs.retry import backoff_seconds
from cancelgate.runtime import Runtime
from cancelgate.services import repository
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.services.payloads import cancellation_resource
from cancelgate.services.repository import ServiceView
from cancelgate.services.scheduling import (
    drop_pending_job,
    schedule_submission,
    submission_time,
)
from cancelgate.upstream.nbn.port import CancelAccepted, CancelOutcome

log = structlog.get_logger(__name__)

S = ServiceCancellationStatus
SERVICE_CANCELLED = "service.cancelled"
SERVICE_CANCELLATION_REJECTED = "service.cancellation-rejected"
RETRYING = "The nbn returned an error; the cancellation will be resubmitted."
GAVE_UP = (
    "The nbn could not be reached to cancel the service; it was not cancelled. "
    "Reschedule or abort the request."
)


@dataclass(frozen=True)
class Submission:
    """What the submission job sends to the nbn."""

    nbn_service_id: str
    cancellation_date: date
    request_key: str


async def _locked_with_latest(
    session: AsyncSession, principal: Principal, service_id: int
) -> tuple[Service, ServiceCancellation | None]:
    """The caller's service, locked, and its latest cancellation request; else NotFound.

    Two statements, not one join: the latest request must be read after the lock is held.
    """
    service = await repository.locked_service_for_tenant(session, principal.tenant_id, service_id)
    if service is None:
        raise NotFound(service_id)
    return service, await repository.latest_cancellation(session, service.id)


def new_request(
    service: Service,
    requester: Principal,
    day: date,
    *,
    requested_on: datetime,
    status: str = S.REQUESTED,
) -> ServiceCancellation:
    """A cancellation request of the service by this API user (not yet scheduled)."""
    return ServiceCancellation(
        tenant_id=service.tenant_id,
        service_id=service.id,
        status=status,
        request_date=day,
        requested_on=requested_on,
        requested_by_id=requester.client_pk,
        requested_by_name=requester.display_name,
        requested_by_email=requester.email,
        submission=0,
        attempts=0,
        request_key=uuid.uuid4(),
    )


async def request_cancellation(
    runtime: Runtime, *, principal: Principal, service_id: int, cancellation_date: date
) -> None:
    """Store a REQUESTED cancellation and schedule its submission, atomically."""
    try:
        async with runtime.sessions.begin() as session:
            service, latest = await _locked_with_latest(session, principal, service_id)
            refusal = request_refusal(
                eligible=is_eligible(service.status, service.eligible_for_cancellation),
                open_status=latest.status if latest is not None else None,
            )
            if refusal is not None:
                raise RuleViolation([refusal])
            now = runtime.clock.now()
            cancellation = new_request(service, principal, cancellation_date, requested_on=now)
            session.add(cancellation)
            at = submission_time(cancellation_date, runtime.zone, now)
            await schedule_submission(session, runtime.clock, cancellation, at)
    except IntegrityError as exc:
        # The service lock makes this unreachable short of a bug; the index has the last word.
        raise RuleViolation([already_requested()]) from exc
    log.info("service_cancellation_requested", service_id=service_id, date=str(cancellation_date))


async def _changeable(
    session: AsyncSession, principal: Principal, service_id: int
) -> ServiceCancellation:
    """The service's cancellation if a reschedule or abort may change it; else 404 or 422."""
    _, latest = await _locked_with_latest(session, principal, service_id)
    refusal = change_refusal(latest.status if latest is not None else None)
    if refusal is not None:
        raise RuleViolation([refusal])
    assert latest is not None  # with nothing requested, change_refusal refuses
    return latest


async def reschedule_cancellation(
    runtime: Runtime, *, principal: Principal, service_id: int, cancellation_date: date
) -> None:
    """Move a REQUESTED or IN_ERROR cancellation to a new date; the old job becomes a no-op."""
    async with runtime.sessions.begin() as session:
        cancellation = await _changeable(session, principal, service_id)
        cancellation.status = S.REQUESTED.value
        cancellation.request_date = cancellation_date
        cancellation.error_detail = None
        cancellation.attempts = 0
        # A new date is a new request as far as the nbn is concerned.
        cancellation.request_key = uuid.uuid4()
        at = submission_time(cancellation_date, runtime.zone, runtime.clock.now())
        await schedule_submission(session, runtime.clock, cancellation, at)
    log.info("service_cancellation_rescheduled", service_id=service_id, date=str(cancellation_date))


async def abort_cancellation(runtime: Runtime, *, principal: Principal, service_id: int) -> None:
    """Abort a REQUESTED or IN_ERROR cancellation; it will never be submitted."""
    async with runtime.sessions.begin() as session:
        cancellation = await _changeable(session, principal, service_id)
        await drop_pending_job(session, cancellation)
        cancellation.status = S.ABORTED.value
        cancellation.aborted_on = runtime.clock.now()
        cancellation.aborted_by_id = principal.client_pk
        cancellation.aborted_by_name = principal.display_name
        cancellation.aborted_by_email = principal.email
    log.info("service_cancellation_aborted", service_id=service_id)


async def submit_now(runtime: Runtime, *, principal: Principal, service_id: int) -> None:
    """Sandbox only: submit a REQUESTED cancellation now instead of on its date."""
    async with runtime.sessions.begin() as session:
        cancellation = await _changeable(session, principal, service_id)
        if cancellation.status != S.REQUESTED:
            raise RuleViolation([not_requested()])
        await schedule_submission(session, runtime.clock, cancellation, runtime.clock.now())
    log.info("service_cancellation_submitted_early", service_id=service_id)


async def get_service(runtime: Runtime, *, principal: Principal, service_id: int) -> ServiceView:
    """The caller's service and its latest cancellation request, or NotFound."""
    found = await repository.service_with_latest(runtime.reads, principal.tenant_id, service_id)
    if found is None:
        raise NotFound(service_id)
    return found


async def _locked_for_job(
    session: AsyncSession, cancellation_id: int, submission: int
) -> tuple[ServiceCancellation, Service] | None:
    """The cancellation and its service, locked, if this job is still the one to act."""
    row = await repository.locked_cancellation_with_service(session, cancellation_id)
    if row is None or not may_submit(row[0].status, row[0].submission, submission):
        return None
    return row


async def start_submission(
    runtime: Runtime, *, cancellation_id: int, submission: int
) -> Submission | None:
    """Mark the request IN_PROGRESS and say what to send; None when the job is stale."""
    async with runtime.sessions.begin() as session:
        row = await _locked_for_job(session, cancellation_id, submission)
        if row is None:
            return None
        cancellation, service = row
        cancellation.status = S.IN_PROGRESS.value
        return Submission(
            nbn_service_id=service.nbn_service_id,
            cancellation_date=cancellation.request_date,
            request_key=str(cancellation.request_key),
        )


async def finish_submission(
    runtime: Runtime, *, cancellation_id: int, submission: int, outcome: CancelOutcome
) -> None:
    """Record the nbn's answer and its event, in one transaction."""
    async with runtime.sessions.begin() as session:
        row = await _locked_for_job(session, cancellation_id, submission)
        if row is None:
            return  # a previous run of this job already finished it
        cancellation, service = row
        cancellation.submit_at = None
        cancellation.submission_job_id = None
        if isinstance(outcome, CancelAccepted):
            cancellation.status = S.COMPLETED.value
            cancellation.cancelled_on = outcome.cancelled_at
            cancellation.error_detail = None
            service.status = ServiceStatus.CANCELLED.value
            service.cancelled_on = outcome.cancelled_at
            event_type = SERVICE_CANCELLED
        else:
            cancellation.status = S.REJECTED.value
            cancellation.error_detail = outcome.message
            event_type = SERVICE_CANCELLATION_REJECTED
        await record_event(
            session,
            tenant_id=service.tenant_id,
            event_type=event_type,
            model="service",
            subject_id=service.id,
            payload=cancellation_resource(service, cancellation),
        )
    log.info(
        "service_cancellation_finished", cancellation_id=cancellation_id, event_type=event_type
    )


async def submission_failed(
    runtime: Runtime, *, cancellation_id: int, submission: int, error: str
) -> None:
    """The nbn could not take it: resubmit later (IN_ERROR_RETRY), or give up (IN_ERROR)."""
    settings = runtime.settings
    async with runtime.sessions.begin() as session:
        row = await _locked_for_job(session, cancellation_id, submission)
        if row is None:
            return
        cancellation, _service = row
        # The job on record is this one, running: there is nothing of it to cancel.
        cancellation.submission_job_id = None
        cancellation.attempts += 1
        log.warning(
            "service_submission_failed",
            cancellation_id=cancellation_id,
            attempts=cancellation.attempts,
            error=error,
        )
        if cancellation.attempts >= settings.job_max_attempts:
            await drop_pending_job(session, cancellation)
            cancellation.status = S.IN_ERROR.value
            cancellation.error_detail = GAVE_UP
            return
        cancellation.status = S.IN_ERROR_RETRY.value
        cancellation.error_detail = RETRYING
        wait = backoff_seconds(cancellation.attempts, settings.job_retry_base_seconds)
        at = runtime.clock.now() + timedelta(seconds=max(1.0, wait))
        await schedule_submission(session, runtime.clock, cancellation, at)
