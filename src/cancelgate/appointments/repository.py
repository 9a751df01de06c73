"""Every statement of the appointments context, built and compiled once; scoped by tenant
wherever a caller is involved. Rows come back as plain dataclasses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, update

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.db.database import UnitOfWork, compiled, fields_of
from cancelgate.domain.appointments import CancellationStatus


@dataclass(frozen=True)
class AppointmentRow:
    """An appointment as the rules, the nbn and the webhook payload need it."""

    id: int
    tenant_id: int
    order_id: int
    service_id: int | None
    nbn_appointment_id: str
    nbn_internal_appointment_id: uuid.UUID
    status: str
    start_time: datetime
    end_time: datetime
    slot_type: str
    timezone_offset: str
    priority_assist: bool
    e_sla: str
    demand_type: str
    contact: dict[str, Any]
    customer_ref: str | None
    cancelled_on: datetime | None


@dataclass(frozen=True)
class Outcome:
    """What the status GET shows of a cancellation request."""

    id: int
    status: str
    failure_message: str | None
    cancelled_on: datetime | None
    requested_on: datetime
    appointment_id: int
    nbn_appointment_id: str


@dataclass(frozen=True)
class CancellationRow:
    """A cancellation request as its job needs it."""

    id: int
    status: str
    request_key: uuid.UUID


_APPOINTMENT = fields_of(Appointment, AppointmentRow)
_CANCELLATION = fields_of(AppointmentCancellation, CancellationRow)
_OPEN_CANCELLATION = (
    exists()
    .where(
        AppointmentCancellation.appointment_id == Appointment.id,
        AppointmentCancellation.status == CancellationStatus.IN_PROGRESS,
    )
    .label("has_open_cancellation")
)
_APPOINTMENT_FOR_TENANT = select(*_APPOINTMENT, _OPEN_CANCELLATION).where(
    Appointment.id == bindparam("appointment_id"), Appointment.tenant_id == bindparam("tenant_id")
)
# One round trip: the appointment and whether a cancellation of it is in flight.
APPOINTMENT_FOR_TENANT = compiled(_APPOINTMENT_FOR_TENANT)
APPOINTMENT_FOR_TENANT_LOCKED = compiled(_APPOINTMENT_FOR_TENANT.with_for_update(of=Appointment))
INSERT_CANCELLATION = compiled(
    insert(AppointmentCancellation)
    .values(
        tenant_id=bindparam("tenant_id"),
        appointment_id=bindparam("appointment_id"),
        client_id=bindparam("client_id"),
        status=CancellationStatus.IN_PROGRESS.value,
        request_key=bindparam("request_key"),
        idempotency_key=bindparam("idempotency_key"),
        requested_on=bindparam("requested_on"),
    )
    .returning(AppointmentCancellation.id)
)
OUTCOME_FOR_TENANT = compiled(
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
_CANCELLATION_WITH_APPOINTMENT = (
    select(*_CANCELLATION, *_APPOINTMENT)
    .join(Appointment, Appointment.id == AppointmentCancellation.appointment_id)
    .where(AppointmentCancellation.id == bindparam("cancellation_id"))
)
CANCELLATION_WITH_APPOINTMENT = compiled(_CANCELLATION_WITH_APPOINTMENT)
CANCELLATION_WITH_APPOINTMENT_LOCKED = compiled(_CANCELLATION_WITH_APPOINTMENT.with_for_update())
FINISH_CANCELLATION = compiled(
    update(AppointmentCancellation)
    .where(AppointmentCancellation.id == bindparam("cancellation_id"))
    .values(
        status=bindparam("status"),
        cancelled_on=bindparam("cancelled_on"),
        failure_message=bindparam("failure_message"),
    )
)
CANCEL_APPOINTMENT = compiled(
    update(Appointment)
    .where(Appointment.id == bindparam("appointment_id"))
    .values(status=bindparam("status"), cancelled_on=bindparam("cancelled_on"))
)


async def appointment_for_tenant(
    uow: UnitOfWork, tenant_id: int, appointment_id: int, *, lock: bool = False
) -> tuple[AppointmentRow, bool] | None:
    """The tenant's appointment and whether a cancellation of it is in flight; None if it does
    not exist or is someone else's. `lock` holds its row until the unit ends (in its
    transaction, begun here if needed)."""
    if lock:
        await uow.begin()
    query = APPOINTMENT_FOR_TENANT_LOCKED if lock else APPOINTMENT_FOR_TENANT
    row = await uow.one(query, {"appointment_id": appointment_id, "tenant_id": tenant_id})
    if row is None:
        return None
    return AppointmentRow(*row[:-1]), bool(row[-1])


async def add_cancellation(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    appointment_id: int,
    client_id: int,
    requested_on: datetime,
    idempotency_key: str | None,
) -> int:
    """A new cancellation request in flight, with the client's Idempotency-Key if any; its id."""
    params = {
        "tenant_id": tenant_id,
        "appointment_id": appointment_id,
        "client_id": client_id,
        "request_key": uuid.uuid4(),
        "idempotency_key": idempotency_key,
        "requested_on": requested_on,
    }
    ((cancellation_id,),) = await uow.returning(INSERT_CANCELLATION, params)
    return int(cancellation_id)


async def outcome_for_tenant(
    uow: UnitOfWork, tenant_id: int, cancellation_id: int
) -> Outcome | None:
    """The tenant's cancellation request as the status GET shows it, or None."""
    params = {"cancellation_id": cancellation_id, "tenant_id": tenant_id}
    row = await uow.one(OUTCOME_FOR_TENANT, params)
    return None if row is None else Outcome(*row)


async def cancellation_with_appointment(
    uow: UnitOfWork, cancellation_id: int, *, lock: bool = False
) -> tuple[CancellationRow, AppointmentRow] | None:
    """A cancellation and its appointment, for the job that processes it (no tenant: internal);
    `lock` holds both rows until the unit ends."""
    if lock:
        await uow.begin()
    query = CANCELLATION_WITH_APPOINTMENT_LOCKED if lock else CANCELLATION_WITH_APPOINTMENT
    row = await uow.one(query, {"cancellation_id": cancellation_id})
    if row is None:
        return None
    split = len(_CANCELLATION)
    return CancellationRow(*row[:split]), AppointmentRow(*row[split:])


async def finish_cancellation(
    uow: UnitOfWork,
    cancellation_id: int,
    *,
    status: CancellationStatus,
    cancelled_on: datetime | None = None,
    failure_message: str | None = None,
) -> None:
    """Record a cancellation request's final status."""
    params = {
        "cancellation_id": cancellation_id,
        "status": status.value,
        "cancelled_on": cancelled_on,
        "failure_message": failure_message,
    }
    await uow.execute(FINISH_CANCELLATION, params)


async def set_appointment_status(
    uow: UnitOfWork, appointment_id: int, *, status: str, cancelled_on: datetime | None
) -> None:
    """Change an appointment's status (and when it was cancelled)."""
    params = {"appointment_id": appointment_id, "status": status, "cancelled_on": cancelled_on}
    await uow.execute(CANCEL_APPOINTMENT, params)
