"""Every statement of the console, built and compiled once (the request lists per combination of
filters, on first use). The console is the installation's: its reads span every tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, cast, func, insert, select, text, update
from sqlalchemy.orm import aliased

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.console.models import Operator, OperatorAudit
from cancelgate.db.database import Database, UnitOfWork, compiled, fields_of
from cancelgate.webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription
from cancelgate.webhooks.repository import AttemptRow

PAGE_SIZE = 50

ANY_OPERATOR = compiled(select(select(Operator.id).where(~Operator.disabled).exists()))


@dataclass(frozen=True)
class LoginRow:
    """An operator as a login needs them."""

    id: int
    password_hash: str
    disabled: bool


OPERATOR_BY_EMAIL = compiled(
    select(Operator.id, Operator.password_hash, Operator.disabled).where(
        Operator.email == bindparam("email")
    )
)


@dataclass(frozen=True)
class SessionRow:
    """An operator as each page checks them: sessions issued at or before `valid_after_us`
    (µs since the epoch) are over."""

    id: int
    email: str
    disabled: bool
    valid_after_us: int


OPERATOR_BY_ID = compiled(
    select(
        Operator.id,
        Operator.email,
        Operator.disabled,
        func.coalesce(
            cast(func.extract("epoch", Operator.sessions_valid_after) * 1_000_000, BigInteger), 0
        ),
    ).where(Operator.id == bindparam("operator_id"))
)
END_SESSIONS = compiled(
    text(
        "UPDATE operators SET sessions_valid_after = greatest(sessions_valid_after,"
        " to_timestamp(CAST(:issued_us AS bigint) / 1000000.0)) WHERE id = :operator_id"
    )
)
INSERT_AUDIT = compiled(
    insert(OperatorAudit).values(
        operator_id=bindparam("operator_id"),
        action=bindparam("action"),
        target=bindparam("target"),
        detail=bindparam("detail"),
    )
)


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit log."""

    id: int
    at: datetime
    email: str | None
    action: str
    target: str | None
    detail: dict[str, Any] | None


AUDIT_PAGE = compiled(
    select(
        OperatorAudit.id,
        OperatorAudit.at,
        Operator.email,
        OperatorAudit.action,
        OperatorAudit.target,
        OperatorAudit.detail,
    )
    .outerjoin(Operator, Operator.id == OperatorAudit.operator_id)
    .where(OperatorAudit.id < bindparam("before"))
    .order_by(OperatorAudit.id.desc())
    .limit(PAGE_SIZE + 1)
)
COUNTS_BY_STATUS = compiled(
    select(AppointmentCancellation.status, func.count())
    .group_by(AppointmentCancellation.status)
    .order_by(AppointmentCancellation.status)
)


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
def _requests_page(tenant: bool, status: bool, request_id: bool) -> Any:
    """The list's statement for one combination of filters (each its own plan)."""
    statement = _FROM.where(AppointmentCancellation.id < bindparam("before"))
    if tenant:
        statement = statement.where(Tenant.name == bindparam("tenant"))
    if status:
        statement = statement.where(AppointmentCancellation.status == bindparam("status"))
    if request_id:
        statement = statement.where(AppointmentCancellation.id == bindparam("request_id"))
    return compiled(statement.order_by(AppointmentCancellation.id.desc()).limit(PAGE_SIZE + 1))


# Keyset pagination starts below every id (integer ids; the audit log's are bigint).
NO_CURSOR = 2**31 - 1
NO_BIG_CURSOR = 2**63 - 1


async def requests_page(
    database: Database,
    *,
    before: int | None,
    tenant: str | None,
    status: str | None,
    request_id: int | None,
) -> tuple[list[RequestRow], int | None]:
    """A page of appointment cancellations, newest first, and the cursor of the next (or None)."""
    query = _requests_page(tenant is not None, status is not None, request_id is not None)
    rows = await database.all(
        query,
        {
            "before": NO_CURSOR if before is None else before,
            "tenant": tenant,
            "status": status,
            "request_id": request_id,
        },
    )
    found = [RequestRow(*row) for row in rows[:PAGE_SIZE]]
    return found, (found[-1].id if len(rows) > PAGE_SIZE else None)


REQUEST_BY_ID = compiled(_FROM.where(AppointmentCancellation.id == bindparam("request_id")))


@dataclass(frozen=True)
class RequestDetail:
    """An appointment cancellation with what its timeline shows of it."""

    row: RequestRow
    client_name: str | None
    failure_message: str | None
    updated_at: datetime


REQUEST_DETAIL = compiled(
    select(
        *_COLUMNS,
        ApiClient.display_name,
        AppointmentCancellation.failure_message,
        AppointmentCancellation.updated_at,
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


APPOINTMENT_EVENTS = compiled(
    select(Event.id, Event.type, Event.occurred_at)
    .where(Event.model == "appointment", Event.subject_id == bindparam("appointment_id"))
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
    .where(_EVENT.model == "appointment", _EVENT.subject_id == bindparam("appointment_id"))
    .order_by(WebhookDelivery.id)
)
APPOINTMENT_ATTEMPTS = compiled(
    # The delivery log's own row: one shape for an attempt wherever it is shown.
    select(*fields_of(WebhookAttempt, AttemptRow))
    .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
    .join(_EVENT, _EVENT.id == WebhookDelivery.event_id)
    .where(_EVENT.model == "appointment", _EVENT.subject_id == bindparam("appointment_id"))
    .order_by(WebhookAttempt.id)
)


@dataclass(frozen=True)
class Timeline:
    """What the detail page shows of one appointment cancellation."""

    request: RequestDetail
    events: list[EventRow]
    deliveries: list[tuple[DeliveryRow, list[AttemptRow]]]


async def timeline(database: Database, request_id: int) -> Timeline | None:
    """The request, its appointment's events and their deliveries with attempts (4 reads)."""
    row = await database.one(REQUEST_DETAIL, {"request_id": request_id})
    if row is None:
        return None
    detail = RequestDetail(RequestRow(*row[:8]), row[8], row[9], row[10])
    params = {"appointment_id": detail.row.appointment_id}
    events = [EventRow(*found) for found in await database.all(APPOINTMENT_EVENTS, params)]
    deliveries = [
        DeliveryRow(*found) for found in await database.all(APPOINTMENT_DELIVERIES, params)
    ]
    attempts = [AttemptRow(*found) for found in await database.all(APPOINTMENT_ATTEMPTS, params)]
    return Timeline(
        request=detail,
        events=events,
        deliveries=[(d, [a for a in attempts if a.delivery_id == d.id]) for d in deliveries],
    )


@dataclass(frozen=True)
class ClientRow:
    """An API client as the clients page lists it."""

    id: int
    tenant: str
    client_id: str
    display_name: str
    enabled: bool
    created_at: datetime


CLIENTS_PAGE = compiled(
    select(
        ApiClient.id,
        Tenant.name,
        ApiClient.client_id,
        ApiClient.display_name,
        ApiClient.enabled,
        ApiClient.created_at,
    )
    .join(Tenant, Tenant.id == ApiClient.tenant_id)
    .where(ApiClient.id < bindparam("before"))
    .order_by(ApiClient.id.desc())
    .limit(PAGE_SIZE + 1)
)
SET_CLIENT_ENABLED = compiled(
    update(ApiClient)
    .where(ApiClient.client_id == bindparam("client_id"))
    .values(enabled=bindparam("enabled"))
    .returning(ApiClient.id)
)


async def login_row(database: Database, email: str) -> LoginRow | None:
    """The operator with this (normalised) email, or None."""
    row = await database.one(OPERATOR_BY_EMAIL, {"email": email})
    return None if row is None else LoginRow(*row)


async def session_row(database: Database, operator_id: int) -> SessionRow | None:
    """The operator a session names, or None."""
    row = await database.one(OPERATOR_BY_ID, {"operator_id": operator_id})
    return None if row is None else SessionRow(row[0], row[1], row[2], int(row[3]))


async def any_operator(database: Database) -> bool:
    """Whether an enabled operator exists."""
    row = await database.one(ANY_OPERATOR)
    return row is not None and bool(row[0])


async def end_sessions(uow: UnitOfWork, operator_id: int, issued_us: int) -> None:
    """Refuse the operator's sessions issued at or before `issued_us` (a logout)."""
    await uow.execute(END_SESSIONS, {"operator_id": operator_id, "issued_us": issued_us})


async def audit(
    uow: UnitOfWork,
    *,
    operator_id: int | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record what an operator did, in the unit's transaction (with what it did)."""
    await uow.execute(
        INSERT_AUDIT,
        {"operator_id": operator_id, "action": action, "target": target, "detail": detail},
    )


async def audit_page(database: Database, before: int | None) -> tuple[list[AuditRow], int | None]:
    """A page of the audit log, newest first, and the next page's cursor (or None)."""
    rows = await database.all(AUDIT_PAGE, {"before": NO_BIG_CURSOR if before is None else before})
    found = [AuditRow(*row) for row in rows[:PAGE_SIZE]]
    return found, (found[-1].id if len(rows) > PAGE_SIZE else None)


async def counts_by_status(database: Database) -> list[tuple[str, int]]:
    """How many appointment cancellations are in each status."""
    return [(str(status), int(n)) for status, n in await database.all(COUNTS_BY_STATUS)]


async def clients_page(
    database: Database, before: int | None
) -> tuple[list[ClientRow], int | None]:
    """A page of API clients, newest first, and the next page's cursor (or None)."""
    rows = await database.all(CLIENTS_PAGE, {"before": NO_CURSOR if before is None else before})
    found = [ClientRow(*row) for row in rows[:PAGE_SIZE]]
    return found, (found[-1].id if len(rows) > PAGE_SIZE else None)


async def set_client_enabled(uow: UnitOfWork, client_id: str, *, enabled: bool) -> bool:
    """Enable or disable an API client by its public id; whether it exists."""
    return bool(
        await uow.returning(SET_CLIENT_ENABLED, {"client_id": client_id, "enabled": enabled})
    )
