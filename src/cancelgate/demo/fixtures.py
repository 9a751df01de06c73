"""Creating appointments that play a simulator scenario (used by the demo and the tests)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.domain.appointments import AppointmentStatus, CancellationStatus
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn.sim_models import SimNbnAppointment

SYDNEY_STANDARD = timezone(timedelta(hours=10))


def new_nbn_appointment_id() -> str:
    """An nbn appointment id: APT and 12 digits."""
    return "APT" + "".join(random.choices("0123456789", k=12))


def slot_times(now: datetime, scenario: str) -> tuple[datetime, datetime, str]:
    """Start, end and slot type: a week out, or within the point of no return for past-ponr."""
    local = now.astimezone(SYDNEY_STANDARD)
    day = local.date() + timedelta(days=1 if scenario == scenarios.PAST_PONR else 7)
    slot = "AM" if scenario == scenarios.PAST_PONR else "PM"
    hour = 8 if slot == "AM" else 13
    start = datetime(day.year, day.month, day.day, hour, tzinfo=SYDNEY_STANDARD)
    return start.astimezone(UTC), (start + timedelta(hours=4)).astimezone(UTC), slot


def initial_status(scenario: str) -> str:
    """Our status of a fresh fixture of this scenario."""
    return (
        AppointmentStatus.COMPLETE if scenario == scenarios.COMPLETE else AppointmentStatus.BOOKED
    )


async def create_appointment(
    session: AsyncSession, *, tenant_id: int, scenario: str, customer_ref: str | None = None
) -> Appointment:
    """An appointment of the tenant and its simulated-nbn twin, playing the scenario."""
    now = datetime.now(UTC)
    start, end, slot = slot_times(now, scenario)
    appointment = Appointment(
        tenant_id=tenant_id,
        order_id=random.randint(10_000, 99_999),
        service_id=random.randint(100_000, 999_999),
        nbn_appointment_id=new_nbn_appointment_id(),
        nbn_internal_appointment_id=uuid.uuid4(),
        status=initial_status(scenario),
        start_time=start,
        end_time=end,
        slot_type=slot,
        timezone_offset="+10:00",
        priority_assist=False,
        e_sla="Standard",
        demand_type="Standard Install",
        contact={
            "name": "Jo Citizen",
            "type": "Primary Contact",
            "phone": "0400000000",
            "notes": None,
        },
        customer_ref=customer_ref or f"CUST-{scenario}",
    )
    session.add(appointment)
    session.add(
        SimNbnAppointment(
            nbn_appointment_id=appointment.nbn_appointment_id,
            nbn_internal_id=appointment.nbn_internal_appointment_id,
            scenario=scenario,
            status=scenarios.nbn_status_for(scenario),
            start_time=start,
        )
    )
    await session.flush()
    if scenario == scenarios.CANCELLATION_IN_PROGRESS:
        # Held open with no job behind it, so the fixture stays "in progress" for good.
        session.add(
            AppointmentCancellation(
                tenant_id=tenant_id,
                appointment_id=appointment.id,
                status=CancellationStatus.IN_PROGRESS.value,
                request_key=uuid.uuid4(),
                requested_on=now,
            )
        )
        await session.flush()
    return appointment
