"""Every statement of the services context, built and compiled once; scoped by tenant wherever a
caller is involved. Rows come back as plain dataclasses.

Lock order: every writer of a service's cancellations (the API commands and the submission job)
first locks the service's row, then reads its cancellations in a statement of its own, so that
what it reads is what the previous lock holder committed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime

from sqlalchemy import BigInteger, bindparam, func, insert, select, text, update

from cancelgate.db.database import Row, UnitOfWork, compiled, fields_of
from cancelgate.domain.services import ServiceCancellationStatus
from cancelgate.services.models import Service, ServiceCancellation


@dataclass(frozen=True)
class ServiceRow:
    """A service as the API, the rules and the submission job see it."""

    id: int
    tenant_id: int
    nbn_service_id: str
    status: str
    eligible_for_cancellation: bool
    cancelled_on: datetime | None


@dataclass(frozen=True)
class CancellationRow:
    """A cancellation request: what the API shows of it and what its submission needs."""

    id: int
    status: str
    request_date: date
    requested_on: datetime
    requested_by_id: int | None
    requested_by_name: str | None
    requested_by_email: str | None
    error_detail: str | None
    cancelled_on: datetime | None
    aborted_on: datetime | None
    aborted_by_id: int | None
    aborted_by_name: str | None
    aborted_by_email: str | None
    # Each (re)scheduling bumps it; a submission job acts only if it carries the current one.
    submission: int
    submit_at: datetime | None
    submission_job_id: int | None
    attempts: int
    # Sent to the nbn as the idempotency key; renewed when the date changes.
    request_key: uuid.UUID
    # The client's Idempotency-Key on the request, if it sent one. Set once, by the insert: a
    # reschedule or abort keeps the original request's (it is not in _CHANGEABLE).
    idempotency_key: str | None = None


@dataclass(frozen=True)
class ServiceView:
    """A service and its latest cancellation request, as its owner may see them."""

    service: ServiceRow
    cancellation: CancellationRow | None


_SERVICE = fields_of(Service, ServiceRow)
_CANCELLATION = fields_of(ServiceCancellation, CancellationRow)
_FOR_TENANT = (Service.id == bindparam("service_id"), Service.tenant_id == bindparam("tenant_id"))
_LATEST_ID = (
    select(func.max(ServiceCancellation.id))
    .where(ServiceCancellation.service_id == Service.id)
    .correlate(Service)
    .scalar_subquery()
)
# One round trip for the polled GETs: the service and its latest request, if any.
SERVICE_WITH_LATEST = compiled(
    select(*_SERVICE, *_CANCELLATION)
    .outerjoin(ServiceCancellation, ServiceCancellation.id == _LATEST_ID)
    .where(*_FOR_TENANT)
)
LOCKED_SERVICE = compiled(select(*_SERVICE).where(*_FOR_TENANT).with_for_update())
LATEST_CANCELLATION = compiled(
    select(*_CANCELLATION)
    .where(ServiceCancellation.service_id == bindparam("service_id"))
    .order_by(ServiceCancellation.id.desc())
    .limit(1)
)
CANCELLATION = compiled(
    select(*_CANCELLATION).where(ServiceCancellation.id == bindparam("cancellation_id"))
)
CANCELLATION_WITH_SERVICE = compiled(
    select(*_CANCELLATION, *_SERVICE)
    .join(Service, Service.id == ServiceCancellation.service_id)
    .where(ServiceCancellation.id == bindparam("cancellation_id"))
)
# Every column a command or the job may change, from the row the caller computed.
_CHANGEABLE = (
    "status",
    "request_date",
    "error_detail",
    "cancelled_on",
    "aborted_on",
    "aborted_by_id",
    "aborted_by_name",
    "aborted_by_email",
    "submission",
    "submit_at",
    "submission_job_id",
    "attempts",
    "request_key",
)
INSERT_CANCELLATION = compiled(
    insert(ServiceCancellation)
    .values(
        tenant_id=bindparam("tenant_id"),
        service_id=bindparam("service_id"),
        requested_on=bindparam("requested_on"),
        requested_by_id=bindparam("requested_by_id"),
        requested_by_name=bindparam("requested_by_name"),
        requested_by_email=bindparam("requested_by_email"),
        idempotency_key=bindparam("idempotency_key"),
        **{name: bindparam(name) for name in _CHANGEABLE},
    )
    .returning(ServiceCancellation.id)
)
SAVE_CANCELLATION = compiled(
    update(ServiceCancellation)
    .where(ServiceCancellation.id == bindparam("cancellation_id"))
    .values(**{name: bindparam(name) for name in _CHANGEABLE})
)
SAVE_SERVICE_STATUS = compiled(
    update(Service)
    .where(Service.id == bindparam("service_id"))
    .values(status=bindparam("status"), cancelled_on=bindparam("cancelled_on"))
)
_LOCKED_SERVICE_ID = (
    select(Service.id).where(Service.id == bindparam("service_id")).with_for_update().cte("locked")
)
# On its own, committed at once: a due REQUESTED cancellation goes IN_PROGRESS before the nbn is
# called. The service's row is locked first, as by every writer; the conditions are checked
# again on the row as committed once its lock is held.
START_SUBMISSION = compiled(
    update(ServiceCancellation)
    .where(
        ServiceCancellation.id == bindparam("cancellation_id"),
        ServiceCancellation.service_id == _LOCKED_SERVICE_ID.c.id,
        ServiceCancellation.status == ServiceCancellationStatus.REQUESTED.value,
        ServiceCancellation.submission == bindparam("submission"),
    )
    .values(status=ServiceCancellationStatus.IN_PROGRESS.value)
    .returning(ServiceCancellation.id)
)
# Deletes the job if it has not started (a started one is left to find itself stale).
CANCEL_JOB = compiled(
    select(func.procrastinate_cancel_job_v1(bindparam("job_id", type_=BigInteger), False, True))
)
# A tenant's test clock moved forward: its waiting submission jobs fall due that much sooner.
BRING_FORWARD = compiled(
    text(
        """
        UPDATE procrastinate_jobs AS job
        SET scheduled_at = job.scheduled_at - make_interval(secs => :seconds)
        FROM service_cancellations AS cancellation
        WHERE cancellation.tenant_id = :tenant_id
          AND cancellation.submission_job_id = job.id
          AND job.status = 'todo'
          AND job.scheduled_at IS NOT NULL
        RETURNING job.id
        """
    )
)
# Idle workers sleep until a job is inserted or their poll interval passes: the notification
# procrastinate's insert trigger sends wakes them now (one wakes each to fetch what is due).
WAKE_WORKERS = compiled(
    text(
        "SELECT pg_notify('procrastinate_any_queue_v1',"
        " json_build_object('type', 'job_inserted', 'job_id', :job_id)::text)"
    )
)


def _split(row: Row, first: int) -> tuple[Row, Row]:
    return row[:first], row[first:]


async def service_with_latest(
    uow: UnitOfWork, tenant_id: int, service_id: int
) -> ServiceView | None:
    """The tenant's service and its latest cancellation request; None if not the tenant's."""
    row = await uow.one(SERVICE_WITH_LATEST, {"service_id": service_id, "tenant_id": tenant_id})
    if row is None:
        return None
    service, cancellation = _split(row, len(_SERVICE))
    # id is the primary key: a null one is the outer join finding no request.
    latest = None if cancellation[0] is None else CancellationRow(*cancellation)
    return ServiceView(ServiceRow(*service), latest)


async def locked_service_with_latest(
    uow: UnitOfWork, tenant_id: int, service_id: int
) -> ServiceView | None:
    """The tenant's service, locked until the unit ends, and then its latest cancellation
    request (read after the lock is held); None if not the tenant's. Begins the transaction."""
    await uow.begin()
    row = await uow.one(LOCKED_SERVICE, {"service_id": service_id, "tenant_id": tenant_id})
    if row is None:
        return None
    latest = await uow.one(LATEST_CANCELLATION, {"service_id": service_id})
    return ServiceView(ServiceRow(*row), None if latest is None else CancellationRow(*latest))


async def cancellation_with_service(
    uow: UnitOfWork, cancellation_id: int
) -> tuple[CancellationRow, ServiceRow] | None:
    """A cancellation and its service, for the submission job (no tenant: internal)."""
    row = await uow.one(CANCELLATION_WITH_SERVICE, {"cancellation_id": cancellation_id})
    if row is None:
        return None
    cancellation, service = _split(row, len(_CANCELLATION))
    return CancellationRow(*cancellation), ServiceRow(*service)


async def locked_cancellation(
    uow: UnitOfWork, service: ServiceRow, cancellation_id: int
) -> tuple[CancellationRow, ServiceRow] | None:
    """The cancellation as committed once its service's row is locked (until the unit ends),
    and the service; None if either is gone. Begins the transaction."""
    await uow.begin()
    params = {"service_id": service.id, "tenant_id": service.tenant_id}
    locked = await uow.one(LOCKED_SERVICE, params)
    row = await uow.one(CANCELLATION, {"cancellation_id": cancellation_id})
    if locked is None or row is None:
        return None
    return CancellationRow(*row), ServiceRow(*locked)


def _changeable(cancellation: CancellationRow) -> dict[str, object]:
    return {name: getattr(cancellation, name) for name in _CHANGEABLE}


async def add_cancellation(
    uow: UnitOfWork, service: ServiceRow, cancellation: CancellationRow
) -> CancellationRow:
    """Store a new cancellation request of the service (its `id` is ignored); it, with its id."""
    params = {
        "tenant_id": service.tenant_id,
        "service_id": service.id,
        "requested_on": cancellation.requested_on,
        "requested_by_id": cancellation.requested_by_id,
        "requested_by_name": cancellation.requested_by_name,
        "requested_by_email": cancellation.requested_by_email,
        "idempotency_key": cancellation.idempotency_key,
        **_changeable(cancellation),
    }
    ((cancellation_id,),) = await uow.returning(INSERT_CANCELLATION, params)
    return replace(cancellation, id=int(cancellation_id))


async def save_cancellation(uow: UnitOfWork, cancellation: CancellationRow) -> None:
    """Write every changeable field of a cancellation request as the row says."""
    await uow.execute(
        SAVE_CANCELLATION, {"cancellation_id": cancellation.id, **_changeable(cancellation)}
    )


async def save_service_status(uow: UnitOfWork, service: ServiceRow) -> None:
    """Write a service's status and when it was cancelled."""
    params = {
        "service_id": service.id,
        "status": service.status,
        "cancelled_on": service.cancelled_on,
    }
    await uow.execute(SAVE_SERVICE_STATUS, params)


async def start_submission(
    uow: UnitOfWork, service: ServiceRow, cancellation_id: int, submission: int
) -> bool:
    """Mark a REQUESTED cancellation of this submission IN_PROGRESS, committed at once (outside
    the unit's transaction); False if it is no longer that (rescheduled, aborted)."""
    params = {
        "service_id": service.id,
        "cancellation_id": cancellation_id,
        "submission": submission,
    }
    return bool(await uow.write_alone(START_SUBMISSION, params))


async def bring_forward_jobs(uow: UnitOfWork, tenant_id: int, seconds: float) -> int:
    """Move the tenant's waiting submission jobs `seconds` earlier and wake the workers, in the
    unit's transaction; how many moved."""
    moved = await uow.returning(BRING_FORWARD, {"tenant_id": tenant_id, "seconds": seconds})
    if moved:
        await uow.returning(WAKE_WORKERS, {"job_id": moved[0][0]})
    return len(moved)


async def cancel_job(uow: UnitOfWork, job_id: int) -> None:
    """Delete a submission job that has not started yet, in the unit's transaction."""
    await uow.execute(CANCEL_JOB, {"job_id": job_id})
