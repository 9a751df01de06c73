"""Service cancellation use cases: request, reschedule, abort, submit now, read; and the
submission job's steps.

Each takes the caller's unit of work and what else it needs as arguments; none commits (the
job's IN_PROGRESS mark is one statement that stands alone, outside the unit's transaction).
Every change to a service's cancellations holds the service's row lock (taken first, see the
repository), so writers (the API and the submission job) are serialised per service and always
lock in the same order. The nbn is called with no transaction open.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from psycopg.errors import UniqueViolation

from cancelgate.auth.identity import Principal
from cancelgate.auth.tenant_clock import TenantClocks
from cancelgate.clock import Clock
from cancelgate.db.database import UnitOfWork
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
from cancelgate.jobs.retry import retry_later
from cancelgate.services import repository
from cancelgate.services.repository import CancellationRow, ServiceRow, ServiceView
from cancelgate.services.scheduling import drop_pending_job, schedule_submission, submission_time
from cancelgate.services.schemas import service_cancellation_body
from cancelgate.upstream.nbn.port import CancelAccepted, CancelOutcome, NbnPort, NbnUnavailable
from cancelgate.webhooks.events import record_event

log = structlog.get_logger(__name__)

S = ServiceCancellationStatus
SERVICE_CANCELLED = "service.cancelled"
SERVICE_CANCELLATION_REJECTED = "service.cancellation-rejected"
RETRYING = "The nbn returned an error; the cancellation will be resubmitted."
GAVE_UP = (
    "The nbn could not be reached to cancel the service; it was not cancelled. "
    "Reschedule or abort the request."
)


def new_request(
    service: ServiceRow,
    requester: Principal,
    day: date,
    *,
    requested_on: datetime,
    idempotency_key: str | None,
) -> CancellationRow:
    """A REQUESTED cancellation of the service by this API user, with the client's
    Idempotency-Key if it sent one (not stored, not scheduled)."""
    return CancellationRow(
        id=0,
        status=S.REQUESTED.value,
        request_date=day,
        requested_on=requested_on,
        requested_by_id=requester.client_pk,
        requested_by_name=requester.display_name,
        requested_by_email=requester.email,
        error_detail=None,
        cancelled_on=None,
        aborted_on=None,
        aborted_by_id=None,
        aborted_by_name=None,
        aborted_by_email=None,
        submission=0,
        submit_at=None,
        submission_job_id=None,
        attempts=0,
        request_key=uuid.uuid4(),
        idempotency_key=idempotency_key,
    )


async def _found(uow: UnitOfWork, principal: Principal, service_id: int) -> ServiceView:
    """The caller's service and its latest request, read on their own; else NotFound."""
    view = await repository.service_with_latest(uow, principal.tenant_id, service_id)
    if view is None:
        raise NotFound(service_id)
    return view


async def _locked(uow: UnitOfWork, principal: Principal, service_id: int) -> ServiceView:
    """The caller's service, locked in the unit's transaction (begun here), and its latest
    request as committed; else NotFound."""
    view = await repository.locked_service_with_latest(uow, principal.tenant_id, service_id)
    if view is None:
        raise NotFound(service_id)
    return view


def _refuse_request(view: ServiceView) -> None:
    latest = view.cancellation
    refusal = request_refusal(
        eligible=is_eligible(view.service.status, view.service.eligible_for_cancellation),
        open_status=latest.status if latest is not None else None,
    )
    if refusal is not None:
        raise RuleViolation([refusal])


def _changeable(view: ServiceView) -> CancellationRow:
    """The latest request if a reschedule or abort may change it; else 422."""
    latest = view.cancellation
    refusal = change_refusal(latest.status if latest is not None else None)
    if refusal is not None:
        raise RuleViolation([refusal])
    assert latest is not None  # with nothing requested, change_refusal refuses
    return latest


def _requested(view: ServiceView) -> CancellationRow:
    """The latest request if it is REQUESTED (not yet with the nbn); else 422."""
    latest = _changeable(view)
    if latest.status != S.REQUESTED:
        raise RuleViolation([not_requested()])
    return latest


async def request_cancellation(
    uow: UnitOfWork,
    *,
    principal: Principal,
    service_id: int,
    cancellation_date: date,
    clock: Clock,
    zone: ZoneInfo,
    idempotency_key: str | None,
) -> None:
    """Store a REQUESTED cancellation (with the client's Idempotency-Key, if any) and defer its
    submission job, in the unit's transaction."""
    # Refusals (404, 422) are decided without a transaction; the lock then settles races.
    _refuse_request(await _found(uow, principal, service_id))
    view = await _locked(uow, principal, service_id)
    _refuse_request(view)
    now = clock.now()
    requested = new_request(
        view.service,
        principal,
        cancellation_date,
        requested_on=now,
        idempotency_key=idempotency_key,
    )
    try:
        stored = await repository.add_cancellation(uow, view.service, requested)
    except UniqueViolation as exc:
        # The service lock makes this unreachable short of a bug; the index has the last word.
        raise RuleViolation([already_requested()]) from exc
    at = submission_time(cancellation_date, zone, now)
    await repository.save_cancellation(uow, await schedule_submission(uow, clock, stored, at))
    log.info("service_cancellation_requested", service_id=service_id, date=str(cancellation_date))


async def reschedule_cancellation(
    uow: UnitOfWork,
    *,
    principal: Principal,
    service_id: int,
    cancellation_date: date,
    clock: Clock,
    zone: ZoneInfo,
) -> None:
    """Move a REQUESTED or IN_ERROR cancellation to a new date; the old job becomes a no-op."""
    _changeable(await _found(uow, principal, service_id))
    latest = _changeable(await _locked(uow, principal, service_id))
    moved = replace(
        latest,
        status=S.REQUESTED.value,
        request_date=cancellation_date,
        error_detail=None,
        attempts=0,
        # A new date is a new request as far as the nbn is concerned; the client's
        # Idempotency-Key stays the original request's (the abort keeps it too).
        request_key=uuid.uuid4(),
    )
    at = submission_time(cancellation_date, zone, clock.now())
    await repository.save_cancellation(uow, await schedule_submission(uow, clock, moved, at))
    log.info("service_cancellation_rescheduled", service_id=service_id, date=str(cancellation_date))


async def abort_cancellation(
    uow: UnitOfWork, *, principal: Principal, service_id: int, clock: Clock
) -> None:
    """Abort a REQUESTED or IN_ERROR cancellation; it will never be submitted."""
    _changeable(await _found(uow, principal, service_id))
    latest = _changeable(await _locked(uow, principal, service_id))
    dropped = await drop_pending_job(uow, latest)
    aborted = replace(
        dropped,
        status=S.ABORTED.value,
        aborted_on=clock.now(),
        aborted_by_id=principal.client_pk,
        aborted_by_name=principal.display_name,
        aborted_by_email=principal.email,
    )
    await repository.save_cancellation(uow, aborted)
    log.info("service_cancellation_aborted", service_id=service_id)


async def submit_now(
    uow: UnitOfWork, *, principal: Principal, service_id: int, clock: Clock
) -> None:
    """Sandbox only: submit a REQUESTED cancellation now instead of on its date."""
    _requested(await _found(uow, principal, service_id))
    latest = _requested(await _locked(uow, principal, service_id))
    scheduled = await schedule_submission(uow, clock, latest, clock.now())
    await repository.save_cancellation(uow, scheduled)
    log.info("service_cancellation_submitted_early", service_id=service_id)


async def get_service(uow: UnitOfWork, *, principal: Principal, service_id: int) -> ServiceView:
    """The caller's service and its latest cancellation request, or NotFound."""
    return await _found(uow, principal, service_id)


async def submit_cancellation(
    uow: UnitOfWork,
    *,
    cancellation_id: int,
    submission: int,
    nbn: NbnPort,
    clocks: TenantClocks,
    attempts: int,
    max_attempts: int,
    retry_base_seconds: float,
) -> None:
    """The submission job: send the request with its stable key (safe to run twice) and
    record the answer. A job whose `submission` is no longer current does nothing.

    A due REQUESTED cancellation is first marked IN_PROGRESS on its own (committed at once), so
    that a reschedule or abort is refused while the nbn may be cancelling the service. An
    unreachable nbn records IN_ERROR_RETRY and asks for a retry of this same job (RetryLater)
    until the last attempt, which records IN_ERROR.
    """
    found = await repository.cancellation_with_service(uow, cancellation_id)
    if found is None or not may_submit(found[0].status, found[0].submission, submission):
        return
    cancellation, service = found
    clock = await clocks.of(uow, service.tenant_id)
    if cancellation.status == S.REQUESTED and not await repository.start_submission(
        uow, service, cancellation_id, submission
    ):
        return  # rescheduled or aborted since it was read
    outcome: CancelOutcome
    try:
        outcome = await nbn.cancel_service(
            nbn_service_id=service.nbn_service_id,
            cancellation_date=cancellation.request_date,
            request_key=str(cancellation.request_key),
            at=clock.now(),
        )
    except NbnUnavailable as exc:
        retry = retry_later(
            attempts, max_attempts=max_attempts, base_seconds=retry_base_seconds, reason=str(exc)
        )
        retry_in = None if retry is None else retry.seconds
        recorded = await _failed(
            uow, service, cancellation_id, submission, clock, retry_in=retry_in
        )
        if recorded and retry is not None:
            raise retry from exc
        return
    await _finish(uow, service, cancellation_id, submission, outcome)


async def _locked_for_job(
    uow: UnitOfWork, service: ServiceRow, cancellation_id: int, submission: int
) -> tuple[CancellationRow, ServiceRow] | None:
    """The cancellation and its service, locked, if this job is still the one to act."""
    row = await repository.locked_cancellation(uow, service, cancellation_id)
    if row is None or not may_submit(row[0].status, row[0].submission, submission):
        return None
    return row


async def _failed(
    uow: UnitOfWork,
    service: ServiceRow,
    cancellation_id: int,
    submission: int,
    clock: Clock,
    *,
    retry_in: float | None,
) -> bool:
    """The nbn could not take it: IN_ERROR_RETRY until it is retried in `retry_in` seconds, or
    IN_ERROR when there is no retry left (None). False if the job is no longer the one to act."""
    row = await _locked_for_job(uow, service, cancellation_id, submission)
    if row is None:
        return False
    cancellation = replace(row[0], attempts=row[0].attempts + 1)
    log.warning(
        "service_submission_failed", cancellation_id=cancellation_id, attempts=cancellation.attempts
    )
    if retry_in is None:
        # The job on record is this one, running: there is nothing of it to delete.
        dropped = await drop_pending_job(uow, replace(cancellation, submission_job_id=None))
        failed = replace(dropped, status=S.IN_ERROR.value, error_detail=GAVE_UP)
    else:
        # The same job runs again (procrastinate retries it): it stays the one on record.
        failed = replace(
            cancellation,
            status=S.IN_ERROR_RETRY.value,
            error_detail=RETRYING,
            submit_at=clock.now() + timedelta(seconds=retry_in),
        )
    await repository.save_cancellation(uow, failed)
    return True


async def _finish(
    uow: UnitOfWork,
    service: ServiceRow,
    cancellation_id: int,
    submission: int,
    outcome: CancelOutcome,
) -> None:
    """Record the nbn's answer and its event, in the unit's transaction."""
    row = await _locked_for_job(uow, service, cancellation_id, submission)
    if row is None:
        return  # a previous run of this job already finished it
    cancellation, locked = row
    done = replace(cancellation, submit_at=None, submission_job_id=None)
    if isinstance(outcome, CancelAccepted):
        done = replace(
            done, status=S.COMPLETED.value, cancelled_on=outcome.cancelled_at, error_detail=None
        )
        locked = replace(
            locked, status=ServiceStatus.CANCELLED.value, cancelled_on=outcome.cancelled_at
        )
        await repository.save_service_status(uow, locked)
        event_type = SERVICE_CANCELLED
    else:
        done = replace(done, status=S.REJECTED.value, error_detail=outcome.message)
        event_type = SERVICE_CANCELLATION_REJECTED
    await repository.save_cancellation(uow, done)
    await record_event(
        uow,
        tenant_id=locked.tenant_id,
        event_type=event_type,
        model="service",
        subject_id=locked.id,
        payload=service_cancellation_body(locked, done).model_dump(),
    )
    log.info(
        "service_cancellation_finished", cancellation_id=cancellation_id, event_type=event_type
    )
