"""Every query of the services context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

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
