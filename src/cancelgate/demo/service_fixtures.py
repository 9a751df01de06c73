"""Creating services that play a simulator scenario (used by the demo and the tests)."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.identity import Principal
from cancelgate.clock import Clock, business_today, start_of_day
from cancelgate.domain.services import ServiceCancellationStatus, ServiceStatus
from cancelgate.jobs.app import jobs_app
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.services.scheduling import SUBMIT_TASK
from cancelgate.services.service import GAVE_UP
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.upstream.nbn.sim_models import SimNbnService

S = ServiceCancellationStatus
# The state a fresh fixture of each scenario is in: (service status, cancellation status).
INITIAL_STATE: dict[str, tuple[str, str | None]] = {
    sc.CANCELLATION_REQUESTED: (ServiceStatus.ACTIVE, S.REQUESTED),
    sc.CANCELLATION_IN_ERROR: (ServiceStatus.ACTIVE, S.IN_ERROR),
    sc.CANCELLATION_IN_PROGRESS: (ServiceStatus.ACTIVE, S.IN_PROGRESS),
    sc.CANCELLED: (ServiceStatus.CANCELLED, S.COMPLETED),
}
# How far ahead a fixture's requested cancellation date is.
REQUESTED_DAYS_AHEAD = 14


def new_nbn_service_id() -> str:
    """An nbn service (AVC) id: AVC and 12 digits."""
    return "AVC" + "".join(random.choices("0123456789", k=12))


def initial_state(scenario: str) -> tuple[str, str | None]:
    """(service status, latest cancellation status) of a fresh fixture of the scenario."""
    return INITIAL_STATE.get(scenario, (ServiceStatus.ACTIVE, None))


def _cancellation(
    service: Service, requester: Principal, status: str, day: date, now: datetime
) -> ServiceCancellation:
    return ServiceCancellation(
        tenant_id=service.tenant_id,
        service_id=service.id,
        status=status,
        request_date=day,
        requested_on=min(now, start_of_day(day, ZoneInfo("UTC")) - timedelta(days=5)),
        requested_by_id=requester.client_pk,
        requested_by_name=requester.display_name,
        requested_by_email=requester.email,
        submission=0,
        attempts=0,
        request_key=uuid.uuid4(),
    )


async def _schedule(
    session: AsyncSession, clock: Clock, cancellation: ServiceCancellation, at: datetime
) -> None:
    """Defer the cancellation's submission job, due at `at`, in the session's transaction."""
    cancellation.submission += 1
    cancellation.submit_at = at
    await session.flush()  # the job needs the row's id
    connection = await (await session.connection()).get_raw_connection()
    job_id: int = await jobs_app.configure_task(
        SUBMIT_TASK,
        # Seeding processes do not register the tasks they defer.
        allow_unknown=True,
        connection=connection.driver_connection,
        schedule_at=clock.to_real(at) if at > clock.now() else None,
    ).defer_async(cancellation_id=cancellation.id, submission=cancellation.submission)
    cancellation.submission_job_id = job_id


async def create_service(
    session: AsyncSession, *, requester: Principal, scenario: str, clock: Clock, zone: ZoneInfo
) -> Service:
    """A service of the requester's tenant and its simulated-nbn twin, playing the scenario."""
    service_status, cancellation_status = initial_state(scenario)
    service = Service(
        tenant_id=requester.tenant_id,
        nbn_service_id=new_nbn_service_id(),
        status=service_status,
        eligible_for_cancellation=scenario != sc.NOT_ELIGIBLE,
    )
    session.add(service)
    session.add(
        SimNbnService(
            nbn_service_id=service.nbn_service_id,
            scenario=scenario,
            status=sc.nbn_status_for(scenario),
            submissions=0,
        )
    )
    await session.flush()
    if cancellation_status is None:
        return service
    now = clock.now()
    today = business_today(now, zone)
    if cancellation_status == S.REQUESTED:
        day = today + timedelta(days=REQUESTED_DAYS_AHEAD)
        cancellation = _cancellation(service, requester, cancellation_status, day, now)
        session.add(cancellation)
        await _schedule(session, clock, cancellation, start_of_day(day, zone))
    elif cancellation_status == S.COMPLETED:
        day = today - timedelta(days=30)
        cancellation = _cancellation(service, requester, cancellation_status, day, now)
        cancellation.cancelled_on = service.cancelled_on = start_of_day(day, zone)
        session.add(cancellation)
    else:
        # IN_ERROR (the nbn gave up) or IN_PROGRESS (held with the nbn, no job behind it).
        cancellation = _cancellation(service, requester, cancellation_status, today, now)
        cancellation.error_detail = GAVE_UP if cancellation_status == S.IN_ERROR else None
        session.add(cancellation)
    await session.flush()
    return service


async def is_fresh(session: AsyncSession, tenant_id: int, service_id: int, scenario: str) -> bool:
    """True if the tenant's service still is as the scenario created it (nobody used it)."""
    service = await session.get(Service, service_id)
    sim = await session.get(SimNbnService, service.nbn_service_id) if service else None
    if service is None or service.tenant_id != tenant_id or sim is None:
        return False
    stmt = select(ServiceCancellation.status).where(ServiceCancellation.service_id == service_id)
    statuses = list((await session.execute(stmt)).scalars())
    state = (service.status, statuses[0] if statuses else None)
    untouched = sim.submissions == 0 and len(statuses) <= 1
    return untouched and sim.scenario == scenario and state == initial_state(scenario)
