"""Every query of the services context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.services.models import Service, ServiceCancellation

# Built once: the status GET is polled hard, and building a statement costs more than running it.
SERVICE_FOR_TENANT = select(Service).where(
    Service.id == bindparam("service_id"), Service.tenant_id == bindparam("tenant_id")
)
LATEST_CANCELLATION = (
    select(ServiceCancellation)
    .where(ServiceCancellation.service_id == bindparam("service_id"))
    .order_by(ServiceCancellation.id.desc())
    .limit(1)
)


_LATEST_ID = (
    select(func.max(ServiceCancellation.id))
    .where(ServiceCancellation.service_id == Service.id)
    .correlate(Service)
    .scalar_subquery()
)
# One round trip for the status GET: the service and its latest cancellation request, if any.
SERVICE_WITH_LATEST = (
    select(Service, ServiceCancellation)
    .outerjoin(ServiceCancellation, ServiceCancellation.id == _LATEST_ID)
    .where(Service.id == bindparam("service_id"), Service.tenant_id == bindparam("tenant_id"))
)


async def service_with_latest(
    session: AsyncSession, tenant_id: int, service_id: int
) -> tuple[Service, ServiceCancellation | None] | None:
    """The tenant's service and its latest cancellation request; None if not the tenant's."""
    params = {"service_id": service_id, "tenant_id": tenant_id}
    row = (await session.execute(SERVICE_WITH_LATEST, params)).one_or_none()
    return None if row is None else (row[0], row[1])


async def service_for_tenant(
    session: AsyncSession, tenant_id: int, service_id: int, *, lock: bool = False
) -> Service | None:
    """The tenant's service, or None if it does not exist or is someone else's."""
    stmt = SERVICE_FOR_TENANT.with_for_update() if lock else SERVICE_FOR_TENANT
    params = {"service_id": service_id, "tenant_id": tenant_id}
    return (await session.execute(stmt, params)).scalar_one_or_none()


async def latest_cancellation(
    session: AsyncSession, service_id: int, *, lock: bool = False
) -> ServiceCancellation | None:
    """The service's most recent cancellation request (the one the API shows), or None."""
    stmt = LATEST_CANCELLATION.with_for_update() if lock else LATEST_CANCELLATION
    return (await session.execute(stmt, {"service_id": service_id})).scalar_one_or_none()


async def cancellation_with_service(
    session: AsyncSession, cancellation_id: int, *, lock: bool = False
) -> tuple[ServiceCancellation, Service] | None:
    """A cancellation and its service, for the submission job (no tenant: internal)."""
    stmt = (
        select(ServiceCancellation, Service)
        .join(Service, Service.id == ServiceCancellation.service_id)
        .where(ServiceCancellation.id == cancellation_id)
    )
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).one_or_none()
    return None if row is None else (row[0], row[1])
