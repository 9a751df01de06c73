"""Fixtures on demand: n objects that play one simulator scenario, each with its simulated
upstream twin, written in a few multi-row statements in the caller's unit of work.

The same functions seed `serve --demo` (one of each scenario, through an ORM session) and answer
the sandbox's fixture routes (up to MAX_COUNT at once, in the request's unit). Every statement
is built once: one array parameter per column, unnested into rows, so 1 row and 1000 rows are
the same prepared SQL and one round trip.
"""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, String, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.auth.identity import Principal
from cancelgate.clock import Clock, business_today, start_of_day
from cancelgate.db.base import Base
from cancelgate.db.database import Params, Query, Row, compiled
from cancelgate.domain.appointments import AppointmentStatus, CancellationStatus
from cancelgate.domain.services import ServiceCancellationStatus, ServiceStatus
from cancelgate.jobs.app import jobs_app
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.services.scheduling import SUBMIT_TASK
from cancelgate.services.service import GAVE_UP
from cancelgate.upstream.csg import scenarios as csg_scenarios
from cancelgate.upstream.csg.sim_models import SimCsgAppointment
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.upstream.nbn.sim_models import SimNbnAppointment, SimNbnService
from cancelgate.ux.models import UxAppointment

# The most fixtures one request makes.
MAX_COUNT = 1000
# What the routes make on demand: every scenario but other-tenant, whose fixture belongs to
# another tenant (the caller's fixtures are the caller's; `serve --demo` seeds that one).
APPOINTMENT_SCENARIOS = tuple(s for s in scenarios.SCENARIOS if s != scenarios.OTHER_TENANT)
SERVICE_SCENARIOS = tuple(s for s in sc.SCENARIOS if s != sc.OTHER_TENANT)
UX_SCENARIOS = csg_scenarios.SCENARIOS

SYDNEY_STANDARD = timezone(timedelta(hours=10))
CONTACT = {"name": "Jo Citizen", "type": "Primary Contact", "phone": "0400000000", "notes": None}
S = ServiceCancellationStatus
# The state a fresh fixture of each service scenario is in: (service status, cancellation status).
INITIAL_STATE: dict[str, tuple[str, str | None]] = {
    sc.CANCELLATION_REQUESTED: (ServiceStatus.ACTIVE, S.REQUESTED),
    sc.CANCELLATION_IN_ERROR: (ServiceStatus.ACTIVE, S.IN_ERROR),
    sc.CANCELLATION_IN_PROGRESS: (ServiceStatus.ACTIVE, S.IN_PROGRESS),
    sc.CANCELLED: (ServiceStatus.CANCELLED, S.COMPLETED),
}
# How far ahead a fixture's requested cancellation date is.
REQUESTED_DAYS_AHEAD = 14


class Writes(Protocol):
    """Where fixtures are written: the request's unit of work, or an ORM session's transaction
    (SessionWrites). Nothing here commits."""

    async def execute(self, query: Query, params: Params | None = None) -> int: ...

    async def returning(self, query: Query, params: Params | None = None) -> list[Row]: ...

    async def connection(self) -> AsyncConnection: ...


class SessionWrites:
    """The same writes on an ORM session's connection, in its transaction (seeding and tests);
    the session's owner commits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def connection(self) -> AsyncConnection:
        """The session's psycopg connection, in the session's transaction."""
        raw = await (await self.session.connection()).get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, AsyncConnection)
        return driver

    async def execute(self, query: Query, params: Params | None = None) -> int:
        """Run a write; how many rows it changed."""
        connection = await self.connection()
        cursor = await connection.execute(query.sql, query.bind(params))
        return cursor.rowcount

    async def returning(self, query: Query, params: Params | None = None) -> list[Row]:
        """Run a write; the rows it returned."""
        connection = await self.connection()
        cursor = await connection.execute(query.sql, query.bind(params))
        return await cursor.fetchall() if cursor.description is not None else []


def _array_of(element: TypeEngine[Any]) -> ARRAY[Any]:
    """The array type of a column's values; text unbounded, so that a value too long for its
    column is refused by the insert rather than cut short by the cast."""
    return ARRAY(String() if isinstance(element, String) else element)


def _insert_rows(model: type[Base], columns: Sequence[str], returning: Sequence[str] = ()) -> Query:
    """INSERT one row per element of the column arrays (parameters named as the columns)."""
    table = model.__table__
    arrays = [cast(bindparam(name), _array_of(table.c[name].type)) for name in columns]
    rows = func.unnest(*arrays).table_valued(*columns).render_derived(name="fixture")
    statement = insert(model).from_select(list(columns), select(*(rows.c[n] for n in columns)))
    if not returning:
        return compiled(statement)
    return compiled(statement.returning(*(table.c[n] for n in returning)))


def _arrays(model: type[Base], columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Params:
    """The rows as one array per column, each value as the database takes it."""
    listed = list(rows)
    params: Params = {}
    for name in columns:
        json = isinstance(model.__table__.c[name].type, JSONB)
        values = [row[name] for row in listed]
        params[name] = [
            Jsonb(v) if json else v.value if isinstance(v, enum.Enum) else v for v in values
        ]
    return params


APPOINTMENT_COLUMNS = (
    "tenant_id",
    "order_id",
    "service_id",
    "nbn_appointment_id",
    "nbn_internal_appointment_id",
    "status",
    "start_time",
    "end_time",
    "slot_type",
    "timezone_offset",
    "priority_assist",
    "e_sla",
    "demand_type",
    "contact",
    "customer_ref",
)
SIM_APPOINTMENT_COLUMNS = (
    "nbn_appointment_id",
    "nbn_internal_id",
    "scenario",
    "status",
    "start_time",
)
HELD_CANCELLATION_COLUMNS = ("tenant_id", "appointment_id", "status", "request_key", "requested_on")
_APPOINTMENTS = _insert_rows(
    Appointment, APPOINTMENT_COLUMNS, returning=("id", "nbn_appointment_id")
)
_SIM_APPOINTMENTS = _insert_rows(SimNbnAppointment, SIM_APPOINTMENT_COLUMNS)
_HELD_CANCELLATIONS = _insert_rows(AppointmentCancellation, HELD_CANCELLATION_COLUMNS)

SERVICE_COLUMNS = (
    "tenant_id",
    "nbn_service_id",
    "status",
    "eligible_for_cancellation",
    "cancelled_on",
)
SIM_SERVICE_COLUMNS = ("nbn_service_id", "scenario", "status", "submissions")
CANCELLATION_COLUMNS = (
    "tenant_id",
    "service_id",
    "status",
    "request_date",
    "requested_on",
    "requested_by_id",
    "requested_by_name",
    "requested_by_email",
    "error_detail",
    "cancelled_on",
    "submission",
    "submit_at",
    "attempts",
    "request_key",
)
_SERVICES = _insert_rows(Service, SERVICE_COLUMNS, returning=("id", "nbn_service_id"))
_SIM_SERVICES = _insert_rows(SimNbnService, SIM_SERVICE_COLUMNS)
_CANCELLATIONS = _insert_rows(
    ServiceCancellation, CANCELLATION_COLUMNS, returning=("id", "service_id")
)
_JOBS = (
    func.unnest(
        cast(bindparam("cancellation_ids"), ARRAY(BigInteger)),
        cast(bindparam("job_ids"), ARRAY(BigInteger)),
    )
    .table_valued("cancellation_id", "job_id")
    .render_derived(name="jobs")
)
_SET_JOBS = compiled(
    update(ServiceCancellation)
    .where(ServiceCancellation.id == _JOBS.c.cancellation_id)
    .values(submission_job_id=_JOBS.c.job_id)
)

UX_COLUMNS = ("business_id", "appointment_id", "status", "order_class", "billing_account")
SIM_UX_COLUMNS = (*UX_COLUMNS[:2], "scenario", *UX_COLUMNS[2:], "calls")
_UX_APPOINTMENTS = _insert_rows(UxAppointment, UX_COLUMNS)
_SIM_UX_APPOINTMENTS = _insert_rows(SimCsgAppointment, SIM_UX_COLUMNS)


@dataclass(frozen=True)
class AppointmentFixture:
    """An appointment made to play a scenario."""

    id: int
    nbn_appointment_id: str
    scenario: str


@dataclass(frozen=True)
class ServiceFixture:
    """A service made to play a scenario."""

    id: int
    nbn_service_id: str
    scenario: str


@dataclass(frozen=True)
class UxAppointmentFixture:
    """A UX (CSG) appointment made to play a scenario."""

    business_id: str
    appointment_id: str
    order_class: str
    billing_account: str | None
    scenario: str


def _unique_ids(prefix: str, count: int) -> list[str]:
    """`count` distinct ids: the prefix and 12 random digits."""
    ids: dict[str, None] = {}
    while len(ids) < count:
        ids[prefix + "".join(random.choices("0123456789", k=12))] = None
    return list(ids)


def new_nbn_appointment_id() -> str:
    """An nbn appointment id: APT and 12 digits."""
    return _unique_ids("APT", 1)[0]


def new_nbn_service_id() -> str:
    """An nbn service (AVC) id: AVC and 12 digits."""
    return _unique_ids("AVC", 1)[0]


# --- appointments -------------------------------------------------------------------------------


def slot_times(now: datetime, scenario: str) -> tuple[datetime, datetime, str]:
    """Start, end and slot type: a week out, or within the point of no return for past-ponr."""
    local = now.astimezone(SYDNEY_STANDARD)
    day = local.date() + timedelta(days=1 if scenario == scenarios.PAST_PONR else 7)
    slot = "AM" if scenario == scenarios.PAST_PONR else "PM"
    hour = 8 if slot == "AM" else 13
    start = datetime(day.year, day.month, day.day, hour, tzinfo=SYDNEY_STANDARD)
    return start.astimezone(UTC), (start + timedelta(hours=4)).astimezone(UTC), slot


def initial_status(scenario: str) -> str:
    """Our status of a fresh appointment fixture of this scenario."""
    return (
        AppointmentStatus.COMPLETE if scenario == scenarios.COMPLETE else AppointmentStatus.BOOKED
    )


def appointment_rows(
    *, tenant_id: int, scenario: str, count: int, now: datetime, customer_ref: str | None = None
) -> list[dict[str, Any]]:
    """The rows of `count` appointments of the tenant playing the scenario (ours; the nbn's
    twin and any held cancellation follow from them)."""
    start, end, slot = slot_times(now, scenario)
    return [
        {
            "tenant_id": tenant_id,
            "order_id": random.randint(10_000, 99_999),
            "service_id": random.randint(100_000, 999_999),
            "nbn_appointment_id": nbn_id,
            "nbn_internal_appointment_id": uuid.uuid4(),
            "status": initial_status(scenario),
            "start_time": start,
            "end_time": end,
            "slot_type": slot,
            "timezone_offset": "+10:00",
            "priority_assist": False,
            "e_sla": "Standard",
            "demand_type": "Standard Install",
            "contact": CONTACT,
            "customer_ref": customer_ref or f"CUST-{scenario}",
        }
        for nbn_id in _unique_ids("APT", count)
    ]


async def create_appointments(
    writes: Writes,
    *,
    tenant_id: int,
    scenario: str,
    count: int,
    now: datetime,
    customer_ref: str | None = None,
) -> list[AppointmentFixture]:
    """`count` appointments of the tenant and their simulated-nbn twins, playing the scenario
    (`now` on the tenant's clock); cancellation-in-progress ones hold a cancellation open with
    no job behind it, so that they stay "in progress" for good. Two or three statements."""
    rows = appointment_rows(
        tenant_id=tenant_id, scenario=scenario, count=count, now=now, customer_ref=customer_ref
    )
    inserted = await writes.returning(
        _APPOINTMENTS, _arrays(Appointment, APPOINTMENT_COLUMNS, rows)
    )
    ids = {nbn_id: appointment_id for appointment_id, nbn_id in inserted}
    nbn_status = scenarios.nbn_status_for(scenario)
    twins = [
        {
            "nbn_appointment_id": row["nbn_appointment_id"],
            "nbn_internal_id": row["nbn_internal_appointment_id"],
            "scenario": scenario,
            "status": nbn_status,
            "start_time": row["start_time"],
        }
        for row in rows
    ]
    await writes.execute(
        _SIM_APPOINTMENTS, _arrays(SimNbnAppointment, SIM_APPOINTMENT_COLUMNS, twins)
    )
    if scenario == scenarios.CANCELLATION_IN_PROGRESS:
        held = [
            {
                "tenant_id": tenant_id,
                "appointment_id": ids[row["nbn_appointment_id"]],
                "status": CancellationStatus.IN_PROGRESS,
                "request_key": uuid.uuid4(),
                "requested_on": now,
            }
            for row in rows
        ]
        await writes.execute(
            _HELD_CANCELLATIONS,
            _arrays(AppointmentCancellation, HELD_CANCELLATION_COLUMNS, held),
        )
    return [
        AppointmentFixture(ids[row["nbn_appointment_id"]], row["nbn_appointment_id"], scenario)
        for row in rows
    ]


# --- services -----------------------------------------------------------------------------------


def initial_state(scenario: str) -> tuple[str, str | None]:
    """(service status, latest cancellation status) of a fresh service fixture of the scenario."""
    return INITIAL_STATE.get(scenario, (ServiceStatus.ACTIVE, None))


@dataclass(frozen=True)
class _Cancellation:
    """What every fixture's cancellation of one scenario shares."""

    status: str
    day: date
    requested_on: datetime
    cancelled_on: datetime | None = None
    error_detail: str | None = None
    submit_at: datetime | None = None


def _cancellation_of(status: str, now: datetime, today: date, zone: ZoneInfo) -> _Cancellation:
    """The cancellation a fresh fixture holds in this status."""

    def requested_on(day: date) -> datetime:
        return min(now, start_of_day(day, ZoneInfo("UTC")) - timedelta(days=5))

    if status == S.REQUESTED:
        day = today + timedelta(days=REQUESTED_DAYS_AHEAD)
        return _Cancellation(status, day, requested_on(day), submit_at=start_of_day(day, zone))
    if status == S.COMPLETED:
        day = today - timedelta(days=30)
        return _Cancellation(status, day, requested_on(day), cancelled_on=start_of_day(day, zone))
    # IN_ERROR (the nbn gave up) or IN_PROGRESS (held with the nbn, no job behind it).
    error = GAVE_UP if status == S.IN_ERROR else None
    return _Cancellation(status, today, requested_on(today), error_detail=error)


async def create_services(
    writes: Writes,
    *,
    requester: Principal,
    scenario: str,
    count: int,
    clock: Clock,
    zone: ZoneInfo,
) -> list[ServiceFixture]:
    """`count` services of the requester's tenant and their simulated-nbn twins, playing the
    scenario (dates on `clock`, the tenant's). Scenarios that start with a cancellation get it,
    requested by the requester; a REQUESTED one has its submission job, due at 00:00 on its date
    (deferred in the same transaction). Two to five statements."""
    service_status, cancellation_status = initial_state(scenario)
    now = clock.now()
    cancellation = (
        _cancellation_of(cancellation_status, now, business_today(now, zone), zone)
        if cancellation_status is not None
        else None
    )
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": requester.tenant_id,
            "nbn_service_id": nbn_id,
            "status": service_status,
            "eligible_for_cancellation": scenario != sc.NOT_ELIGIBLE,
            "cancelled_on": cancellation.cancelled_on if cancellation else None,
        }
        for nbn_id in _unique_ids("AVC", count)
    ]
    inserted = await writes.returning(_SERVICES, _arrays(Service, SERVICE_COLUMNS, rows))
    ids = {nbn_id: service_id for service_id, nbn_id in inserted}
    nbn_status = sc.nbn_status_for(scenario)
    twins = [
        {
            "nbn_service_id": row["nbn_service_id"],
            "scenario": scenario,
            "status": nbn_status,
            "submissions": 0,
        }
        for row in rows
    ]
    await writes.execute(_SIM_SERVICES, _arrays(SimNbnService, SIM_SERVICE_COLUMNS, twins))
    created = [
        ServiceFixture(ids[r["nbn_service_id"]], r["nbn_service_id"], scenario) for r in rows
    ]
    if cancellation is not None:
        await _add_cancellations(writes, requester, cancellation, [f.id for f in created], clock)
    return created


async def _add_cancellations(
    writes: Writes,
    requester: Principal,
    cancellation: _Cancellation,
    service_ids: list[int],
    clock: Clock,
) -> None:
    """Each service's cancellation; REQUESTED ones with their submission jobs."""
    scheduled = cancellation.submit_at is not None
    rows = [
        {
            "tenant_id": requester.tenant_id,
            "service_id": service_id,
            "status": cancellation.status,
            "request_date": cancellation.day,
            "requested_on": cancellation.requested_on,
            "requested_by_id": requester.client_pk,
            "requested_by_name": requester.display_name,
            "requested_by_email": requester.email,
            "error_detail": cancellation.error_detail,
            "cancelled_on": cancellation.cancelled_on,
            # Scheduling bumps the submission number a job must carry (services.scheduling).
            "submission": 1 if scheduled else 0,
            "submit_at": cancellation.submit_at,
            "attempts": 0,
            "request_key": uuid.uuid4(),
        }
        for service_id in service_ids
    ]
    inserted = await writes.returning(
        _CANCELLATIONS, _arrays(ServiceCancellation, CANCELLATION_COLUMNS, rows)
    )
    if cancellation.submit_at is None:
        return
    at = cancellation.submit_at
    cancellation_ids = [cancellation_id for cancellation_id, _ in inserted]
    jobs: list[dict[str, Any]] = [
        {"cancellation_id": cancellation_id, "submission": 1}
        for cancellation_id in cancellation_ids
    ]
    job_ids = await jobs_app.configure_task(
        SUBMIT_TASK,
        # Seeding processes do not register the tasks they defer.
        allow_unknown=True,
        connection=await writes.connection(),
        # procrastinate compares with the database's clock: convert from ours.
        schedule_at=clock.to_real(at) if at > clock.now() else None,
    ).batch_defer_async(*jobs)
    await writes.execute(_SET_JOBS, {"cancellation_ids": cancellation_ids, "job_ids": job_ids})


# --- UX appointments ----------------------------------------------------------------------------


async def create_ux_appointments(
    writes: Writes, *, business_id: str, scenario: str, count: int
) -> list[UxAppointmentFixture]:
    """`count` appointments of the business unit and their simulated-CSG twins, playing the
    scenario (ids of 16 digits, like the seed's 1200096041981014). Two statements."""
    order_class = csg_scenarios.order_class_for(scenario)
    account = csg_scenarios.SEED_BILLING_ACCOUNT if order_class == "S" else None
    status = csg_scenarios.initial_status(scenario)
    created = [
        UxAppointmentFixture(business_id, appointment_id, order_class, account, scenario)
        for appointment_id in _unique_ids("1200", count)
    ]
    rows = [
        {
            "business_id": business_id,
            "appointment_id": fixture.appointment_id,
            "status": status,
            "order_class": order_class,
            "billing_account": account,
            "scenario": scenario,
            "calls": 0,
        }
        for fixture in created
    ]
    await writes.execute(_UX_APPOINTMENTS, _arrays(UxAppointment, UX_COLUMNS, rows))
    await writes.execute(_SIM_UX_APPOINTMENTS, _arrays(SimCsgAppointment, SIM_UX_COLUMNS, rows))
    return created
