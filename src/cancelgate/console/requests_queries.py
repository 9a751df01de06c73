"""The statements of the appointment cancellation pages (the list's per combination of filters,
compiled on first use)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.console.paging import request_page_statement
from cancelgate.db.database import Database, Query, compiled, fields_of
from cancelgate.jobs.attempts import Attempt, attempts_of
from cancelgate.ux.service import STATE_CHANGE as UX_STATE_CHANGE
from cancelgate.webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription
from cancelgate.webhooks.repository import AttemptRow


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


@dataclass(frozen=True)
class EventRow:
    """An event recorded for the appointment."""

    id: Any
    type: str
    occurred_at: datetime


def _of_appointment(event: Any) -> tuple[Any, ...]:
    """The events of the nbn appointment `appointment_id`: the UX API's appointments record
    theirs under the same model name and their own ids, so their type is left out."""
    return (
        event.model == "appointment",
        event.subject_id == bindparam("appointment_id"),
        event.type != UX_STATE_CHANGE,
    )


APPOINTMENT_EVENTS = compiled(
    select(Event.id, Event.type, Event.occurred_at)
    .where(*_of_appointment(Event))
    .order_by(Event.txid, Event.seq)
)


@dataclass(frozen=True)
class DeliveryRow:
    """A webhook delivery of one of those events, with its attempts."""

    id: int
    event_id: Any
    url: str
    status: str
    attempts: int
    created_at: datetime


_EVENT = aliased(Event)
APPOINTMENT_DELIVERIES = compiled(
    select(
        WebhookDelivery.id,
        WebhookDelivery.event_id,
        WebhookSubscription.url,
        WebhookDelivery.status,
        WebhookDelivery.attempts,
        WebhookDelivery.created_at,
    )
    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    .join(_EVENT, _EVENT.id == WebhookDelivery.event_id)
    .where(*_of_appointment(_EVENT))
    .order_by(WebhookDelivery.id)
)
APPOINTMENT_ATTEMPTS = compiled(
    # The delivery log's own row: one shape for an attempt wherever it is shown.
    select(*fields_of(WebhookAttempt, AttemptRow))
    .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
    .join(_EVENT, _EVENT.id == WebhookDelivery.event_id)
    .where(*_of_appointment(_EVENT))
    .order_by(WebhookAttempt.id)
)


@dataclass(frozen=True)
class Timeline:
    """What the detail page shows of one appointment cancellation."""

    request: RequestDetail
    events: list[EventRow]
    attempts: list[Attempt]
    deliveries: list[tuple[DeliveryRow, list[AttemptRow]]]


async def timeline(database: Database, request_id: int) -> Timeline | None:
    """The request, its job's attempts, its appointment's events and their deliveries with
    attempts (6 reads)."""
    row = await database.one(REQUEST_DETAIL, {"request_id": request_id})
    if row is None:
        return None
    detail = RequestDetail(RequestRow(*row[:8]), *row[8:])
    params = {"appointment_id": detail.row.appointment_id}
    events = [EventRow(*found) for found in await database.all(APPOINTMENT_EVENTS, params)]
    deliveries = [
        DeliveryRow(*found) for found in await database.all(APPOINTMENT_DELIVERIES, params)
    ]
    attempts = [AttemptRow(*found) for found in await database.all(APPOINTMENT_ATTEMPTS, params)]
    return Timeline(
        request=detail,
        events=events,
        attempts=await attempts_of(database, SUBMIT_TASK, request_id),
        deliveries=[(d, [a for a in attempts if a.delivery_id == d.id]) for d in deliveries],
    )
