"""Creating one service that plays a simulator scenario, through an ORM session (the demo's seed
and the tests), and telling whether a seeded one is still fresh; the rows are built and written
by the sandbox's bulk fixtures."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.identity import Principal
from cancelgate.clock import Clock
from cancelgate.sandbox.fixtures import SessionWrites, create_services, initial_state
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.upstream.nbn.sim_models import SimNbnService


async def create_service(
    session: AsyncSession, *, requester: Principal, scenario: str, clock: Clock, zone: ZoneInfo
) -> Service:
    """A service of the requester's tenant and its simulated-nbn twin, playing the scenario
    (with the cancellation, and its submission job, the scenario starts with), in the session's
    transaction."""
    [created] = await create_services(
        SessionWrites(session),
        requester=requester,
        scenario=scenario,
        count=1,
        clock=clock,
        zone=zone,
    )
    service = await session.get(Service, created.id)
    assert service is not None  # just written in this transaction
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
