"""Every statement of the UX context, built and compiled once. Rows come back as plain
dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update

from cancelgate.db.database import UnitOfWork, compiled, fields_of
from cancelgate.upstream.csg.scenarios import CANCELLED
from cancelgate.ux.models import ChannelClient, UxAppointment


@dataclass(frozen=True)
class ChannelClientRow:
    """An enabled channel client as its check needs it."""

    client_id: str
    secret_hash: str
    business_units: list[str]


@dataclass(frozen=True)
class UxAppointmentRow:
    """A UX appointment as the rules, CSG and the state-change event need it."""

    id: int
    business_id: str
    appointment_id: str
    status: str
    order_class: str
    billing_account: str | None
    cancellation_reason: str | None
    cancelled_at: datetime | None


# Built once: every PATCH asks it.
CHANNEL_CLIENT = compiled(
    select(*fields_of(ChannelClient, ChannelClientRow)).where(
        ChannelClient.client_id == bindparam("client_id"), ChannelClient.enabled
    )
)
_APPOINTMENT = select(*fields_of(UxAppointment, UxAppointmentRow)).where(
    UxAppointment.business_id == bindparam("business_id"),
    UxAppointment.appointment_id == bindparam("appointment_id"),
)
APPOINTMENT = compiled(_APPOINTMENT)
APPOINTMENT_LOCKED = compiled(_APPOINTMENT.with_for_update())
# `updated_at` follows from the column's onupdate.
CANCEL_APPOINTMENT = compiled(
    update(UxAppointment)
    .where(UxAppointment.id == bindparam("id"))
    .values(
        status=CANCELLED,
        cancelled_at=bindparam("cancelled_at"),
        cancellation_reason=bindparam("cancellation_reason"),
    )
)


async def channel_client(uow: UnitOfWork, client_id: str) -> ChannelClientRow | None:
    """The enabled channel client with this id, or None."""
    row = await uow.one(CHANNEL_CLIENT, {"client_id": client_id})
    return None if row is None else ChannelClientRow(*row)


async def appointment(
    uow: UnitOfWork, business_id: str, appointment_id: str, *, lock: bool = False
) -> UxAppointmentRow | None:
    """The business unit's appointment, or None; `lock` holds its row until the unit ends (in
    its transaction, begun here if needed)."""
    if lock:
        await uow.begin()
    query = APPOINTMENT_LOCKED if lock else APPOINTMENT
    row = await uow.one(query, {"business_id": business_id, "appointment_id": appointment_id})
    return None if row is None else UxAppointmentRow(*row)


async def cancel_appointment(
    uow: UnitOfWork, appointment_pk: int, *, cancelled_at: datetime, reason: str
) -> None:
    """Mark the appointment cancelled at that instant for that reason."""
    params = {"id": appointment_pk, "cancelled_at": cancelled_at, "cancellation_reason": reason}
    await uow.execute(CANCEL_APPOINTMENT, params)
