"""The statements of the UX pages: channel clients, and UX appointments with the correlation id
of the request that cancelled them (kept only in their state-change event's payload)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, String, bindparam, func, literal_column, select

from cancelgate.console.paging import NO_CURSOR, PAGE_SIZE, page_of
from cancelgate.db.database import Database, compiled
from cancelgate.ux.models import ChannelClient, UxAppointment
from cancelgate.ux.service import STATE_CHANGE
from cancelgate.webhooks.models import Event


@dataclass(frozen=True)
class ChannelClientRow:
    """A channel client as its page lists it."""

    id: int
    client_id: str
    name: str
    business_units: list[str]
    enabled: bool
    created_at: datetime


CHANNEL_CLIENTS_PAGE = compiled(
    select(
        ChannelClient.id,
        ChannelClient.client_id,
        ChannelClient.name,
        ChannelClient.business_units,
        ChannelClient.enabled,
        ChannelClient.created_at,
    )
    .where(ChannelClient.id < bindparam("before"))
    .order_by(ChannelClient.id.desc())
    .limit(PAGE_SIZE + 1)
)


async def channel_clients_page(
    database: Database, before: int | None
) -> tuple[list[ChannelClientRow], int | None]:
    """A page of channel clients, newest first, and the next page's cursor (or None)."""
    params = {"before": NO_CURSOR if before is None else before}
    return page_of(await database.all(CHANNEL_CLIENTS_PAGE, params), ChannelClientRow)


@dataclass(frozen=True)
class UxRow:
    """A UX appointment as the UX list shows it."""

    id: int
    business_id: str
    appointment_id: str
    status: str
    order_class: str
    cancellation_reason: str | None
    cancelled_at: datetime | None
    correlation_id: str | None


# UX events are recorded with model "appointment" and the UX appointment's id as subject, as
# the nbn appointments' are: their type tells them apart. Written into the statements, not
# bound: an index on the expression (partial on the type) serves even a generic plan.
_UX_EVENT = (
    Event.model == literal_column("'appointment'"),
    Event.type == literal_column(f"'{STATE_CHANGE}'"),
)


def _correlation() -> ColumnElement[str]:
    """The event's correlation id (`payload ->> 'correlationId'`, the key written in)."""
    return Event.payload.op("->>", return_type=String())(literal_column("'correlationId'"))


# The correlation id of the cancelling request (ix_events_model_subject_id finds the event).
_ROW_CORRELATION = (
    select(_correlation())
    .where(*_UX_EVENT, Event.subject_id == UxAppointment.id)
    .order_by(Event.seq)
    .limit(1)
    .scalar_subquery()
)
_COLUMNS = (
    UxAppointment.id,
    UxAppointment.business_id,
    UxAppointment.appointment_id,
    UxAppointment.status,
    UxAppointment.order_class,
    UxAppointment.cancellation_reason,
    UxAppointment.cancelled_at,
    _ROW_CORRELATION,
)


# A correlation id names one request: more appointments than this under one is not a search
# the page needs to serve whole.
MAX_CORRELATED = 1000
# The appointments whose state-change event carries the correlation id. Read first, on its
# own: inside the list's statement a generic plan of the prepared statement walked the whole
# primary key (a merge join) rather than look the few ids up.
CORRELATED = compiled(
    select(Event.subject_id)
    .where(*_UX_EVENT, _correlation() == bindparam("correlation_id"))
    .limit(MAX_CORRELATED)
)


@cache
def _ux_page(correlation: bool, appointment: bool, unit: bool, status: bool) -> Any:
    """The list's statement for one combination of filters (each its own plan)."""
    statement = select(*_COLUMNS).where(UxAppointment.id < bindparam("before"))
    if correlation:
        statement = statement.where(UxAppointment.id == func.any(bindparam("ids")))
    if appointment:
        statement = statement.where(UxAppointment.appointment_id == bindparam("appointment_id"))
    if unit:
        statement = statement.where(UxAppointment.business_id == bindparam("business_id"))
    if status:
        statement = statement.where(UxAppointment.status == bindparam("status"))
    return compiled(statement.order_by(UxAppointment.id.desc()).limit(PAGE_SIZE + 1))


async def ux_page(
    database: Database,
    *,
    before: int | None,
    correlation_id: str | None,
    appointment_id: str | None,
    business_id: str | None,
    status: str | None,
) -> tuple[list[UxRow], int | None]:
    """A page of UX appointments, newest first, filtered, and the next page's cursor (or
    None); a correlation id is looked up first (2 reads)."""
    ids: list[int] = []
    if correlation_id is not None:
        found = await database.all(CORRELATED, {"correlation_id": correlation_id})
        ids = [row[0] for row in found]
        if not ids:
            return [], None
    query = _ux_page(
        correlation_id is not None,
        appointment_id is not None,
        business_id is not None,
        status is not None,
    )
    params = {
        "before": NO_CURSOR if before is None else before,
        "ids": ids,
        "appointment_id": appointment_id,
        "business_id": business_id,
        "status": status,
    }
    return page_of(await database.all(query, params), UxRow)


@dataclass(frozen=True)
class UxEventRow:
    """A state-change event of a UX appointment, with its correlation id and payload."""

    id: Any
    type: str
    occurred_at: datetime
    correlation_id: str | None
    payload: str


@dataclass(frozen=True)
class UxDetail:
    """What the detail page shows of one UX appointment."""

    row: UxRow
    billing_account: str | None
    updated_at: datetime
    events: list[UxEventRow]


UX_APPOINTMENT = compiled(
    select(*_COLUMNS, UxAppointment.billing_account, UxAppointment.updated_at).where(
        UxAppointment.id == bindparam("id")
    )
)
UX_EVENTS = compiled(
    select(Event.id, Event.type, Event.occurred_at, _correlation(), Event.payload)
    .where(*_UX_EVENT, Event.subject_id == bindparam("id"))
    .order_by(Event.txid, Event.seq)
)


async def ux_detail(database: Database, appointment_pk: int) -> UxDetail | None:
    """A UX appointment and its state-change events (2 reads), or None."""
    row = await database.one(UX_APPOINTMENT, {"id": appointment_pk})
    if row is None:
        return None
    events = [
        UxEventRow(e[0], e[1], e[2], e[3], json.dumps(e[4], indent=2))
        for e in await database.all(UX_EVENTS, {"id": appointment_pk})
    ]
    return UxDetail(UxRow(*row[:8]), row[8], row[9], events)
