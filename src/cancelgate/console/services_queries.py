"""The statements of the service cancellation pages (the list's per combination of filters,
compiled on first use).

A service's events are recorded against the service (`model = 'service'`, its id), and a
service may have had several cancellations (one aborted or rejected, then another). An event
belongs to the cancellation its payload describes: the payload's `requestedOn` is the instant
(to the second) that cancellation was requested, which a reschedule never changes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.connect.formats import instant
from cancelgate.console.paging import PAGE_SIZE, request_page_statement
from cancelgate.console.trail import Trail, read_trail, trail_reads
from cancelgate.db.database import Database, Query, compiled
from cancelgate.jobs.attempts import Attempt, attempts_of
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.services.scheduling import SUBMIT_TASK

SC = ServiceCancellation


@dataclass(frozen=True)
class CancellationRow:
    """A service cancellation as the list shows it."""

    id: int
    tenant: str
    status: str
    service_id: int
    nbn_service_id: str
    request_date: date
    client_id: str | None
    requested_by_name: str | None
    requested_on: datetime
    cancelled_on: datetime | None


_REQUESTER = aliased(ApiClient)
_COLUMNS = (
    SC.id,
    Tenant.name,
    SC.status,
    SC.service_id,
    Service.nbn_service_id,
    SC.request_date,
    _REQUESTER.client_id,
    SC.requested_by_name,
    SC.requested_on,
    SC.cancelled_on,
)
_FROM = (
    select(*_COLUMNS)
    .select_from(SC)
    .join(Tenant, Tenant.id == SC.tenant_id)
    .join(Service, Service.id == SC.service_id)
    .outerjoin(_REQUESTER, _REQUESTER.id == SC.requested_by_id)
)


@cache
def cancellations_page(shape: tuple[bool, bool, bool, bool]) -> Query:
    """The list's statement for one combination of filters."""
    return request_page_statement(SC, _FROM, shape)


@dataclass(frozen=True)
class CancellationDetail:
    """A service cancellation with everything stored of it (only its latest state: a
    reschedule overwrites the date, the nbn request key and the error in place)."""

    row: CancellationRow
    service_status: str
    requested_by_email: str | None
    client_name: str | None
    error_detail: str | None
    aborted_on: datetime | None
    aborted_by_client_id: str | None
    aborted_by_name: str | None
    aborted_by_email: str | None
    submission: int
    submit_at: datetime | None
    submission_job_id: int | None
    attempts: int
    request_key: uuid.UUID
    updated_at: datetime
    idempotency_key: str | None


_ABORTER = aliased(ApiClient)
CANCELLATION_DETAIL = compiled(
    select(
        *_COLUMNS,
        Service.status,
        SC.requested_by_email,
        _REQUESTER.display_name,
        SC.error_detail,
        SC.aborted_on,
        _ABORTER.client_id,
        SC.aborted_by_name,
        SC.aborted_by_email,
        SC.submission,
        SC.submit_at,
        SC.submission_job_id,
        SC.attempts,
        SC.request_key,
        SC.updated_at,
        SC.idempotency_key,
    )
    .select_from(SC)
    .join(Tenant, Tenant.id == SC.tenant_id)
    .join(Service, Service.id == SC.service_id)
    .outerjoin(_REQUESTER, _REQUESTER.id == SC.requested_by_id)
    .outerjoin(_ABORTER, _ABORTER.id == SC.aborted_by_id)
    .where(SC.id == bindparam("cancellation_id"))
)
_LIST_WIDTH = len(_COLUMNS)


@dataclass(frozen=True)
class SiblingRow:
    """Another cancellation of the same service."""

    id: int
    status: str
    requested_on: datetime


# A service has a handful of cancellations; the limit only guards the page.
SIBLINGS = compiled(
    select(SC.id, SC.status, SC.requested_on)
    .where(SC.service_id == bindparam("service_id"), SC.id != bindparam("cancellation_id"))
    .order_by(SC.id.desc())
    .limit(PAGE_SIZE)
)


def _of_this_request(event: Any) -> tuple[Any, ...]:
    """The events of the service `service_id` that describe the request made at
    `requested_on` (the payload's own format of the instant)."""
    return (
        event.model == "service",
        event.subject_id == bindparam("service_id"),
        event.payload["requestedOn"].as_string() == bindparam("requested_on"),
    )


SERVICE_TRAIL = trail_reads(_of_this_request)


@dataclass(frozen=True)
class Timeline:
    """What the detail page shows of one service cancellation."""

    cancellation: CancellationDetail
    siblings: list[SiblingRow]
    attempts: list[Attempt]
    trail: Trail


async def timeline(database: Database, cancellation_id: int) -> Timeline | None:
    """The cancellation, the service's other cancellations, its submission job's attempts,
    its events and their deliveries with attempts (7 reads)."""
    row = await database.one(CANCELLATION_DETAIL, {"cancellation_id": cancellation_id})
    if row is None:
        return None
    detail = CancellationDetail(CancellationRow(*row[:_LIST_WIDTH]), *row[_LIST_WIDTH:])
    service_id = detail.row.service_id
    siblings = await database.all(
        SIBLINGS, {"service_id": service_id, "cancellation_id": cancellation_id}
    )
    # The payload's own format of the instant (connect.formats), so that the two compare.
    params = {"service_id": service_id, "requested_on": instant(detail.row.requested_on)}
    return Timeline(
        cancellation=detail,
        siblings=[SiblingRow(*found) for found in siblings],
        attempts=await attempts_of(database, SUBMIT_TASK, cancellation_id),
        trail=await read_trail(database, SERVICE_TRAIL, params),
    )
