"""Every query of the appointments context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.domain.appointments import CancellationStatus

_OPEN_CANCELLATION = (
    exists()
    .where(
        AppointmentCancellation.appointment_id == Appointment.id,
        AppointmentCancellation.status == CancellationStatus.IN_PROGRESS,
    )
    .label("has_open_cancellation")
)
# Built once, one round trip: the appointment and whether a cancellation of it is in flight.
APPOINTMENT_FOR_TENANT = select(Appointment, _OPEN_CANCELLATION).where(
    Appointment.id == bindparam("appointment_id"), Appointment.tenant_id == bindparam("tenant_id")
)
APPOINTMENT_FOR_TENANT_LOCKED = APPOINTMENT_FOR_TENANT.with_for_update(of=Appointment)


async def appointment_for_tenant(
    session: AsyncSession, tenant_id: int, appointment_id: int, *, lock: bool = False
) -> tuple[Appointment, bool] | None:
    """The tenant's appointment and whether a cancellation of it is in flight; None if it does
    not exist or is someone else's. `lock` holds the appointment's row until commit."""
    stmt = APPOINTMENT_FOR_TENANT_LOCKED if lock else APPOINTMENT_FOR_TENANT
    params = {"appointment_id": appointment_id, "tenant_id": tenant_id}
    row = (await session.execute(stmt, params)).one_or_none()
    return None if row is None else (row[0], bool(row[1]))


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


# Built once: every job runs it twice.
CANCELLATION_WITH_APPOINTMENT = (
    select(AppointmentCancellation, Appointment)
    .join(Appointment, Appointment.id == AppointmentCancellation.appointment_id)
    .where(AppointmentCancellation.id == bindparam("cancellation_id"))
)
CANCELLATION_WITH_APPOINTMENT_LOCKED = CANCELLATION_WITH_APPOINTMENT.with_for_update()


async def cancellation_with_appointment(
    session: AsyncSession, cancellation_id: int, *, lock: bool = False
) -> tuple[AppointmentCancellation, Appointment] | None:
    """A cancellation and its appointment, for the job that processes it (no tenant: internal)."""
    stmt = CANCELLATION_WITH_APPOINTMENT_LOCKED if lock else CANCELLATION_WITH_APPOINTMENT
    params = {"cancellation_id": cancellation_id}
    return (await session.execute(stmt, params)).one_or_none()
