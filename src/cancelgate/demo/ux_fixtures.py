"""Creating UX appointments that play a CSG scenario (used by the demo and the tests)."""

from __future__ import annotations

import random

from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.upstream.csg import scenarios
from cancelgate.upstream.csg.sim_models import SimCsgAppointment
from cancelgate.ux.models import UxAppointment


def new_appointment_id() -> str:
    """A CSG appointment id: 16 digits, like the seed's 1200096041981014."""
    return "1200" + "".join(random.choices("0123456789", k=12))


async def create_ux_appointment(
    session: AsyncSession, *, business_id: str, scenario: str
) -> UxAppointment:
    """An appointment of the business unit and its simulated-CSG twin, playing the scenario."""
    order_class = scenarios.order_class_for(scenario)
    account = scenarios.SEED_BILLING_ACCOUNT if order_class == "S" else None
    status = scenarios.initial_status(scenario)
    appointment = UxAppointment(
        business_id=business_id,
        appointment_id=new_appointment_id(),
        status=status,
        order_class=order_class,
        billing_account=account,
    )
    session.add(appointment)
    session.add(
        SimCsgAppointment(
            business_id=business_id,
            appointment_id=appointment.appointment_id,
            scenario=scenario,
            status=status,
            order_class=order_class,
            billing_account=account,
            calls=0,
        )
    )
    await session.flush()
    return appointment


async def is_fresh(
    session: AsyncSession, business_id: str, appointment_id: str, scenario: str
) -> bool:
    """True if the appointment still is as the scenario created it (nobody used it)."""
    sim = await session.get(SimCsgAppointment, (business_id, appointment_id))
    return (
        sim is not None
        and sim.scenario == scenario
        and sim.calls == 0
        and (sim.status == scenarios.initial_status(scenario))
    )
