"""The built-in CSG: deterministic per fixture scenario, its state kept in its own table and
its own transactions, as a real upstream would keep them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from cancelgate.db.database import Database, UnitOfWork, compiled, fields_of
from cancelgate.observability.tracing import traced
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

# On the span of each call (see cancelgate.observability.tracing): the CSG here is ours.
SIMULATED = {"cancelgate.upstream": "csg simulator"}


@dataclass(frozen=True)
class _SimRow:
    """What CSG decides from: the appointment's scenario, status and cancellation instant."""

    scenario: str
    status: str
    cancelled_at: datetime | None


_KEY = (
    SimCsgAppointment.business_id == bindparam("business_id"),
    SimCsgAppointment.appointment_id == bindparam("appointment_id"),
)
LOCKED_APPOINTMENT = compiled(
    select(*fields_of(SimCsgAppointment, _SimRow)).where(*_KEY).with_for_update()
)
# Every call is counted (for tests), whatever the answer; status and instant change only when
# CSG cancels (the caller passes the current values otherwise).
RECORD_CALL = compiled(
    update(SimCsgAppointment)
    .where(*_KEY)
    .values(
        calls=SimCsgAppointment.calls + 1,
        last_correlation_id=bindparam("correlation_id"),
        status=bindparam("status"),
        cancelled_at=bindparam("cancelled_at"),
    )
)


def _key(cancellation: CsgCancellation) -> dict[str, str]:
    return {"business_id": cancellation.business_id, "appointment_id": cancellation.appointment_id}


async def _locked(uow: UnitOfWork, cancellation: CsgCancellation) -> _SimRow | None:
    await uow.begin()
    row = await uow.one(LOCKED_APPOINTMENT, _key(cancellation))
    return None if row is None else _SimRow(*row)


async def _decide(
    uow: UnitOfWork, row: _SimRow | None, cancellation: CsgCancellation
) -> CsgOutcome | None:
    """What CSG answers for this locked row (None: unavailable); counts the call."""
    if row is None:  # unknown to CSG: refused, and nothing to count the call on
        return CsgRefused(scenarios.refusal_reason(cancellation.appointment_id, None, None))
    scenario, status, cancelled_at = row.scenario, row.status, row.cancelled_at
    decision = scenarios.verdict(scenario, status)
    if decision == Verdict.CANCEL:
        status, cancelled_at = scenarios.CANCELLED, datetime.now(UTC)
    await uow.execute(
        RECORD_CALL,
        {
            **_key(cancellation),
            "correlation_id": cancellation.correlation_id,
            "status": status,
            "cancelled_at": cancelled_at,
        },
    )
    if decision == Verdict.UNAVAILABLE:
        return None
    if decision == Verdict.REFUSE:
        return CsgRefused(scenarios.refusal_reason(cancellation.appointment_id, scenario, status))
    return CsgCancelled(cancelled_at=cancelled_at or datetime.now(UTC))


class CsgSimulator:
    """A CsgPort that plays each appointment's scenario; shared by every process via the DB."""

    def __init__(self, database: Database, *, slow_seconds: float) -> None:
        self.database = database
        self.slow_seconds = slow_seconds

    @traced("csg cancel", attributes=SIMULATED)
    async def cancel_appointment(self, cancellation: CsgCancellation) -> CsgOutcome:
        """Cancel as the scenario says; a repeat on a cancelled appointment succeeds again."""
        async with self.database.unit_of_work() as uow:
            row = await _locked(uow, cancellation)
            slow = row is not None and row.scenario == scenarios.CSG_SLOW
            outcome = None if slow else await _decide(uow, row, cancellation)
        if slow:
            # Slower than any sensible client timeout: the caller gives up first. The lock is
            # not held while sleeping; the decision is taken afresh afterwards.
            await asyncio.sleep(self.slow_seconds)
            async with self.database.unit_of_work() as uow:
                outcome = await _decide(uow, await _locked(uow, cancellation), cancellation)
        # Raised once the unit has ended: the call is counted even when CSG is "down".
        if outcome is None:
            raise CsgUnavailable("simulated outage")
        return outcome

    async def close(self) -> None:
        """Nothing to release: the database belongs to the process."""
