"""Creating one appointment that plays a simulator scenario, through an ORM session (the demo's
seed and the tests); the rows are built and written by the sandbox's bulk fixtures."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.appointments.models import Appointment
from cancelgate.sandbox.fixtures import SessionWrites, create_appointments


async def create_appointment(
    session: AsyncSession, *, tenant_id: int, scenario: str, customer_ref: str | None = None
) -> Appointment:
    """An appointment of the tenant and its simulated-nbn twin, playing the scenario (and, for
    cancellation-in-progress, its held cancellation), in the session's transaction."""
    [created] = await create_appointments(
        SessionWrites(session),
        tenant_id=tenant_id,
        scenario=scenario,
        count=1,
        now=datetime.now(UTC),
        customer_ref=customer_ref,
    )
    appointment = await session.get(Appointment, created.id)
    assert appointment is not None  # just written in this transaction
    return appointment
