"""Every query of the appointments context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.domain.appointments import CancellationStatus


async def appointment_for_tenant(
    session: AsyncSession, tenant_id: int, appointment_id: int, *, lock: bool = False
) -> Appointment | None:
    """The tenant's appointment, or None if it does not exist or is someone else's."""
    stmt = select(Appointment).where(
        Appointment.id == appointment_id, Appointment.tenant_id == tenant_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def has_open_cancellation(session: AsyncSession, appointment_id: int) -> bool:
    """True while a cancellation of the appointment is in flight."""
    stmt = select(
        exists().where(
            AppointmentCancellation.appointment_id == appointment_id,
            AppointmentCancellation.status == CancellationStatus.IN_PROGRESS,
        )
    )
    return bool((await session.execute(stmt)).scalar_one())


# Built once: on the polling hot path, building a statement costs more than running it.
CANCELLATION_FOR_TENANT = (
    select(AppointmentCancellation, Appointment)
    .join(Appointment, Appointment.id == AppointmentCancellation.appointment_id)
    .where(
        AppointmentCancellation.id == bindparam("cancellation_id"),
        AppointmentCancellation.tenant_id == bindparam("tenant_id"),
    )
)


async def cancellation_for_tenant(
    session: AsyncSession, tenant_id: int, cancellation_id: int
) -> tuple[AppointmentCancellation, Appointment] | None:
    """The tenant's cancellation request with its appointment, or None."""
    params = {"cancellation_id": cancellation_id, "tenant_id": tenant_id}
    return (await session.execute(CANCELLATION_FOR_TENANT, params)).one_or_none()


async def cancellation_with_appointment(
    session: AsyncSession, cancellation_id: int, *, lock: bool = False
) -> tuple[AppointmentCancellation, Appointment] | None:
    """A cancellation and its appointment, for the job that processes it (no tenant: internal)."""
    stmt = (
        select(AppointmentCancellation, Appointment)
        .join(Appointment, Appointment.id == AppointmentCancellation.appointment_id)
        .where(AppointmentCancellation.id == cancellation_id)
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).one_or_none()
