"""The built-in nbn: deterministic per fixture scenario, its state kept in its own tables."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cancelgate.domain.appointments import NbnCheck
from cancelgate.upstream.nbn import scenarios, service_scenarios
from cancelgate.upstream.nbn.port import (
    CancelAccepted,
    CancelOutcome,
    CancelRefused,
    NbnUnavailable,
)
from cancelgate.upstream.nbn.service_scenarios import Verdict
from cancelgate.upstream.nbn.sim_models import (
    SimNbnAppointment,
    SimNbnCancellation,
    SimNbnService,
    SimNbnServiceCancellation,
)

# Built once: the simulator answers every job of a benchmark.
LOCKED_APPOINTMENT = (
    select(SimNbnAppointment)
    .where(SimNbnAppointment.nbn_appointment_id == bindparam("nbn_appointment_id"))
    .with_for_update()
)
LOCKED_SERVICE = (
    select(SimNbnService)
    .where(SimNbnService.nbn_service_id == bindparam("nbn_service_id"))
    .with_for_update()
)
ACCEPTED = "accepted"
REFUSED = "refused"


def _outcome(record: SimNbnCancellation | SimNbnServiceCancellation) -> CancelOutcome:
    if record.outcome == ACCEPTED:
        return CancelAccepted(cancelled_at=record.decided_at)
    return CancelRefused(message=record.message or "")


class NbnSimulator:
    """An NbnPort that plays each appointment's scenario; shared by every process via the DB."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, ponr_hours: int, slow_seconds: float
    ) -> None:
        self.sessions = sessions
        self.ponr_hours = ponr_hours
        self.slow_seconds = slow_seconds

    async def check_cancellable(self, *, nbn_appointment_id: str) -> NbnCheck:
        """Answer the pre-check from the appointment's nbn status and start time."""
        async with self.sessions() as session:
            row = await session.get(SimNbnAppointment, nbn_appointment_id)
        if row is None:
            return NbnCheck.INVALID_STATE
        if row.scenario == scenarios.UPSTREAM_UNAVAILABLE:
            raise NbnUnavailable("simulated outage")
        return scenarios.check(row.status, row.start_time, datetime.now(UTC), self.ponr_hours)

    async def cancel(self, *, nbn_appointment_id: str, request_key: str) -> CancelOutcome:
        """Process a cancellation once per request key; a repeated key gets the first answer."""
        async with self.sessions() as session:
            previous = await session.get(SimNbnCancellation, request_key)
            if previous is not None:
                return _outcome(previous)
            row = await session.get(SimNbnAppointment, nbn_appointment_id)
        if row is not None and row.scenario == scenarios.UPSTREAM_UNAVAILABLE:
            raise NbnUnavailable("simulated outage")
        if row is not None and row.scenario == scenarios.BOOKED_SLOW:
            # The nbn takes a while with this one: the client sees 202 before the outcome.
            await asyncio.sleep(self.slow_seconds)
        async with self.sessions.begin() as session:
            return await self._decide(session, nbn_appointment_id, request_key)

    async def _decide(
        self, session: AsyncSession, nbn_appointment_id: str, request_key: str
    ) -> CancelOutcome:
        params = {"nbn_appointment_id": nbn_appointment_id}
        row = (await session.execute(LOCKED_APPOINTMENT, params)).scalar_one_or_none()
        previous = await session.get(SimNbnCancellation, request_key)
        if previous is not None:
            return _outcome(previous)
        now = datetime.now(UTC)
        result: CancelOutcome
        if row is None:
            message = scenarios.refusal_message(NbnCheck.INVALID_STATE, nbn_appointment_id)
            outcome, result = REFUSED, CancelRefused(message)
        elif row.scenario == scenarios.FAILS_IN_PROCESSING:
            outcome, result = (
                REFUSED,
                CancelRefused(scenarios.past_cponr_message(nbn_appointment_id)),
            )
        else:
            verdict = scenarios.check(row.status, row.start_time, now, self.ponr_hours)
            if verdict == NbnCheck.CANCELLABLE:
                row.status, row.cancelled_at = scenarios.NBN_CANCELLED, now
                outcome, result = ACCEPTED, CancelAccepted(cancelled_at=now)
            else:
                message = scenarios.refusal_message(verdict, nbn_appointment_id)
                outcome, result = REFUSED, CancelRefused(message)
        session.add(
            SimNbnCancellation(
                request_key=request_key,
                nbn_appointment_id=nbn_appointment_id,
                outcome=outcome,
                message=result.message if isinstance(result, CancelRefused) else None,
                decided_at=now,
            )
        )
        return result

    async def cancel_service(
        self, *, nbn_service_id: str, cancellation_date: date, request_key: str
    ) -> CancelOutcome:
        """Process a service cancellation once per request key, as the service's scenario says."""
        async with self.sessions.begin() as session:
            # Lock, then look for the key (as `_decide` does): a concurrent retry with the
            # same key waits here and then finds the first call's answer.
            params = {"nbn_service_id": nbn_service_id}
            row = (await session.execute(LOCKED_SERVICE, params)).scalar_one_or_none()
            previous = await session.get(SimNbnServiceCancellation, request_key)
            if previous is not None:
                return _outcome(previous)
            scenario = row.scenario if row is not None else None
            status = row.status if row is not None else None
            decision = service_scenarios.verdict(scenario, status, row.submissions if row else 0)
            if row is not None:
                row.submissions += 1  # committed even when the answer is "unavailable"
            now = datetime.now(UTC)
            result: CancelOutcome | None = None
            if decision == Verdict.ACCEPT and row is not None:
                row.status, row.cancelled_at = service_scenarios.NBN_CANCELLED, now
                result = CancelAccepted(cancelled_at=now)
            elif decision == Verdict.REJECT:
                message = service_scenarios.rejection_message(nbn_service_id, scenario, status)
                result = CancelRefused(message)
            if result is not None:
                session.add(
                    SimNbnServiceCancellation(
                        request_key=request_key,
                        nbn_service_id=nbn_service_id,
                        cancellation_date=cancellation_date,
                        outcome=ACCEPTED if isinstance(result, CancelAccepted) else REFUSED,
                        message=result.message if isinstance(result, CancelRefused) else None,
                        decided_at=now,
                    )
                )
        if result is None:
            raise NbnUnavailable("simulated outage")
        return result

    async def effective_cancellations(self, nbn_appointment_id: str | None = None) -> int:
        """How many cancellations the nbn carried out (for tests and the crash benchmark)."""
        stmt = select(func.count()).where(SimNbnCancellation.outcome == ACCEPTED)
        if nbn_appointment_id is not None:
            stmt = stmt.where(SimNbnCancellation.nbn_appointment_id == nbn_appointment_id)
        async with self.sessions() as session:
            return int((await session.execute(stmt)).scalar_one())

    async def close(self) -> None:
        """Nothing to release: sessions belong to the caller's engine."""
