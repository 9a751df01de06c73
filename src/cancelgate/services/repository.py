"""Every query of the services context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.db.reads import ReadPool, read_query
from cancelgate.services.models import Service, ServiceCancellation

# Built once: building a statement costs more than running it (profiled). Every writer of a
# service's cancellations (API commands and the submission job) holds the service's row lock.
LOCKED_SERVICE_FOR_TENANT = (
    select(Service)
    .where(Service.id == bindparam("service_id"), Service.tenant_id == bindparam("tenant_id"))
    .with_for_update()
)
LATEST_CANCELLATION = (
    select(ServiceCancellation)
    .where(ServiceCancellation.service_id == bindparam("service_id"))
    .order_by(ServiceCancellation.id.desc())
    .limit(1)
)
LOCKED_CANCELLATION_WITH_SERVICE = (
    select(ServiceCancellation, Service)
    .join(Service, Service.id == ServiceCancellation.service_id)
    .where(ServiceCancellation.id == bindparam("cancellation_id"))
    # The service row only, as every other writer locks it: locking the cancellation row
    # too would take the two locks in the opposite order to the API commands (deadlock).
    .with_for_update(of=Service)
)
_LATEST_ID = (
    select(func.max(ServiceCancellation.id))
    .where(ServiceCancellation.service_id == Service.id)
    .correlate(Service)
    .scalar_subquery()
)


@dataclass(frozen=True)
class ServiceRow:
    """What the GETs show of a service (plain values, no ORM)."""

    id: int
    nbn_service_id: str
    status: str
    eligible_for_cancellation: bool
    cancelled_on: datetime | None


@dataclass(frozen=True)
class CancellationRow:
    """What the GETs show of a service's latest cancellation request (plain values, no ORM)."""

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
    submit_at: datetime | None


# In the rows' field order (their names are the models' attribute names), so that a row
# splits into the two dataclasses by position.
_SERVICE_COLUMNS = tuple(getattr(Service, f.name) for f in fields(ServiceRow))
_CANCELLATION_COLUMNS = tuple(getattr(ServiceCancellation, f.name) for f in fields(CancellationRow))
# One round trip on the read pool for the polled GETs: the service and its latest
# cancellation request, if any, as plain columns (an ORM session cost more than the query).
SERVICE_WITH_LATEST = read_query(
    select(*_SERVICE_COLUMNS, *_CANCELLATION_COLUMNS)
    .outerjoin(ServiceCancellation, ServiceCancellation.id == _LATEST_ID)
    .where(Service.id == bindparam("service_id"), Service.tenant_id == bindparam("tenant_id"))
)


@dataclass(frozen=True)
class ServiceView:
    """A service and its latest cancellation request, as its owner may see them."""

    service: ServiceRow
    cancellation: CancellationRow | None


async def service_with_latest(
    reads: ReadPool, tenant_id: int, service_id: int
) -> ServiceView | None:
    """The tenant's service and its latest cancellation request; None if not the tenant's."""
    params = {"service_id": service_id, "tenant_id": tenant_id}
    row = await reads.one(SERVICE_WITH_LATEST, params)
    if row is None:
        return None
    split = len(_SERVICE_COLUMNS)
    service, cancellation = row[:split], row[split:]
    # status is NOT NULL: a null one is the outer join finding no request.
    latest = None if cancellation[0] is None else CancellationRow(*cancellation)
    return ServiceView(ServiceRow(*service), latest)


async def locked_service_for_tenant(
    session: AsyncSession, tenant_id: int, service_id: int
) -> Service | None:
    """The tenant's service, locked until commit; None if it does not exist or is someone else's."""
    params = {"service_id": service_id, "tenant_id": tenant_id}
    return (await session.execute(LOCKED_SERVICE_FOR_TENANT, params)).scalar_one_or_none()


async def latest_cancellation(session: AsyncSession, service_id: int) -> ServiceCancellation | None:
    """The service's most recent cancellation request (the one the API shows), or None."""
    params = {"service_id": service_id}
    return (await session.execute(LATEST_CANCELLATION, params)).scalar_one_or_none()


async def locked_cancellation_with_service(
    session: AsyncSession, cancellation_id: int
) -> tuple[ServiceCancellation, Service] | None:
    """A cancellation and its service, locked, for the submission job (no tenant: internal)."""
    params = {"cancellation_id": cancellation_id}
    row = (await session.execute(LOCKED_CANCELLATION_WITH_SERVICE, params)).one_or_none()
    return None if row is None else (row[0], row[1])
