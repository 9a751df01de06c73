"""The built-in CSG: deterministic per fixture scenario, its state kept in its own table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cancelgate.upstream.csg import scenarios
from cancelgate.upstream.csg.port import (
    CsgCancellation,
    CsgCancelled,
    CsgOutcome,
    CsgRefused,
    CsgUnavailable,
)
from cancelgate.upstream.csg.scenarios import Verdict
from cancelgate.upstream.csg.sim_models import SimCsgAppointment

# Built once: every UX PATCH in simulator mode runs it.
LOCKED_APPOINTMENT = (
    select(SimCsgAppointment)
    .where(
        SimCsgAppointment.business_id == bindparam("business_id"),
        SimCsgAppointment.appointment_id == bindparam("appointment_id"),
    )
    .with_for_update()
)


async def _locked(session: AsyncSession, cancellation: CsgCancellation) -> SimCsgAppointment | None:
    params = {
        "business_id": cancellation.business_id,
        "appointment_id": cancellation.appointment_id,
    }
    return (await session.execute(LOCKED_APPOINTMENT, params)).scalar_one_or_none()


def _decide(row: SimCsgAppointment | None, cancellation: CsgCancellation) -> CsgOutcome | None:
    """What CSG answers for this locked row (None: unavailable); counts the call."""
    scenario = row.scenario if row is not None else None
    status = row.status if row is not None else None
    decision = scenarios.verdict(scenario, status)
    if row is not None:
        row.calls += 1
        row.last_correlation_id = cancellation.correlation_id
    if decision == Verdict.UNAVAILABLE:
        return None
    if decision == Verdict.REFUSE or row is None:
        reason = scenarios.refusal_reason(cancellation.appointment_id, scenario, status)
        return CsgRefused(reason)
    if decision == Verdict.CANCEL:
        row.status, row.cancelled_at = scenarios.CANCELLED, datetime.now(UTC)
    return CsgCancelled(cancelled_at=row.cancelled_at or datetime.now(UTC))


class CsgSimulator:
    """A CsgPort that plays each appointment's scenario; shared by every process via the DB."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, slow_seconds: float) -> None:
        self.sessions = sessions
        self.slow_seconds = slow_seconds

    async def cancel_appointment(self, cancellation: CsgCancellation) -> CsgOutcome:
        """Cancel as the scenario says; a repeat on a cancelled appointment succeeds again."""
        async with self.sessions.begin() as session:
            row = await _locked(session, cancellation)
            slow = row is not None and row.scenario == scenarios.CSG_SLOW
            outcome = None if slow else _decide(row, cancellation)
        if slow:
            # Slower than any sensible client timeout: the caller gives up first. The lock is
            # not held while sleeping; the decision is taken afresh afterwards.
            await asyncio.sleep(self.slow_seconds)
            async with self.sessions.begin() as session:
                outcome = _decide(await _locked(session, cancellation), cancellation)
        if outcome is None:
            raise CsgUnavailable("simulated outage")
        return outcome

    async def close(self) -> None:
        """Nothing to release: sessions belong to the caller's engine."""
