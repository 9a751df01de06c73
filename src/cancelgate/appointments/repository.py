"""Every query of the appointments context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.db.reads import ReadPool, read_query
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


@dataclass(frozen=True)
class Outcome:
    """What the status GET shows of a cancellation request (plain values, no ORM)."""

    id: int
    status: str
    failure_message: str | None
    cancelled_on: datetime | None
    requested_on: datetime
    appointment_id: int
    nbn_appointment_id: str


# Built and compiled once, read as plain columns on the read pool: this GET is polled hard,
# and a statement's construction and an ORM session cost more than the query itself (profiled).
OUTCOME_FOR_TENANT = read_query(
    select(
        AppointmentCancellation.id,
        AppointmentCancellation.status,
        AppointmentCancellation.failure_message,
        AppointmentCancellation.cancelled_on,
        AppointmentCancellation.requested_on,
        Appointment.id,
        Appointment.nbn_appointment_id,
    )
    .join(Appointment, Appointment.id == AppointmentCancellation.appointment_id)
    .where(
        AppointmentCancellation.id == bindparam("cancellation_id"),
        AppointmentCancellation.tenant_id == bindparam("tenant_id"),
    )
)


async def outcome_for_tenant(
    reads: ReadPool, tenant_id: int, cancellation_id: int
) -> Outcome | None:
    """The tenant's cancellation request as the status GET shows it, or None."""
    params = {"cancellation_id": cancellation_id, "tenant_id": tenant_id}
    row = await reads.one(OUTCOME_FOR_TENANT, params)
    return None if row is None else Outcome(*row)


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
