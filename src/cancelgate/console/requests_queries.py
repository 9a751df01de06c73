"""The statements of the appointment cancellation pages (the list's per combination of filters,
compiled on first use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.console.paging import request_page_statement
from cancelgate.console.trail import Trail, read_trail, trail_reads
from cancelgate.db.database import Database, Query, compiled
from cancelgate.jobs.attempts import Attempt, attempts_of
from cancelgate.ux.service import STATE_CHANGE as UX_STATE_CHANGE


@dataclass(frozen=True)
class RequestRow:
    """An appointment cancellation as the list shows it."""

    id: int
    tenant: str
    status: str
    appointment_id: int
    nbn_appointment_id: str
    client_id: str | None
    requested_on: datetime
    cancelled_on: datetime | None


_COLUMNS = (
    AppointmentCancellation.id,
    Tenant.name,
    AppointmentCancellation.status,
    AppointmentCancellation.appointment_id,
    Appointment.nbn_appointment_id,
    ApiClient.client_id,
    AppointmentCancellation.requested_on,
    AppointmentCancellation.cancelled_on,
)
_FROM = (
    select(*_COLUMNS)
    .join(Tenant, Tenant.id == AppointmentCancellation.tenant_id)
    .join(Appointment, Appointment.id == AppointmentCancellation.appointment_id)
    .outerjoin(ApiClient, ApiClient.id == AppointmentCancellation.client_id)
)


@cache
def requests_page(shape: tuple[bool, bool, bool, bool]) -> Query:
    """The list's statement for one combination of filters."""
    return request_page_statement(AppointmentCancellation, _FROM, shape)


REQUEST_BY_ID = compiled(_FROM.where(AppointmentCancellation.id == bindparam("request_id")))


@dataclass(frozen=True)
class RequestDetail:
    """An appointment cancellation with what its timeline shows of it."""

    row: RequestRow
    client_name: str | None
    failure_message: str | None
    updated_at: datetime
    idempotency_key: str | None


REQUEST_DETAIL = compiled(
    select(
        *_COLUMNS,
        ApiClient.display_name,
        AppointmentCancellation.failure_message,
        AppointmentCancellation.updated_at,
        AppointmentCancellation.idempotency_key,
    )
    .select_from(AppointmentCancellation)
    .join(Tenant, Tenant.id == AppointmentCancellation.tenant_id)
    .join(Appointment, Appointment.id == AppointmentCancellation.appointment_id)
    .outerjoin(ApiClient, ApiClient.id == AppointmentCancellation.client_id)
    .where(AppointmentCancellation.id == bindparam("request_id"))
)


def _of_appointment(event: Any) -> tuple[Any, ...]:
    """The events of the nbn appointment `appointment_id`: the UX API's appointments record
    theirs under the same model name and their own ids, so their type is left out."""
    return (
        event.model == "appointment",
        event.subject_id == bindparam("appointment_id"),
        event.type != UX_STATE_CHANGE,
    )


APPOINTMENT_TRAIL = trail_reads(_of_appointment)


@dataclass(frozen=True)
class Timeline:
    """What the detail page shows of one appointment cancellation."""

    request: RequestDetail
    attempts: list[Attempt]
    trail: Trail


async def timeline(database: Database, request_id: int) -> Timeline | None:
    """The request, its job's attempts, its appointment's events and their deliveries with
    attempts (6 reads)."""
    row = await database.one(REQUEST_DETAIL, {"request_id": request_id})
    if row is None:
        return None
    detail = RequestDetail(RequestRow(*row[:8]), *row[8:])
    return Timeline(
        request=detail,
        attempts=await attempts_of(database, SUBMIT_TASK, request_id),
        trail=await read_trail(
            database, APPOINTMENT_TRAIL, {"appointment_id": detail.row.appointment_id}
        ),
    )
