"""The built-in nbn: deterministic per fixture scenario, its state kept in its own tables and
its own transactions, as a real upstream would keep them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, func, insert, select, update

from cancelgate.db.database import Database, UnitOfWork, compiled
from cancelgate.domain.appointments import NbnCheck
from cancelgate.observability.tracing import traced
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

ACCEPTED = "accepted"
REFUSED = "refused"
# On the span of each call (see cancelgate.observability.tracing): the nbn here is ours.
SIMULATED = {"cancelgate.upstream": "nbn simulator"}

APPOINTMENT = compiled(
    select(
        SimNbnAppointment.scenario, SimNbnAppointment.status, SimNbnAppointment.start_time
    ).where(SimNbnAppointment.nbn_appointment_id == bindparam("nbn_appointment_id"))
)
# The answer already given to a request key, if any.
_ANSWER = select(
    SimNbnCancellation.outcome, SimNbnCancellation.message, SimNbnCancellation.decided_at
).where(SimNbnCancellation.request_key == bindparam("request_key"))
# One round trip before deciding: the appointment's scenario and the key's earlier answer.
SCENARIO_AND_ANSWER = compiled(
    select(
        select(SimNbnAppointment.scenario)
        .where(SimNbnAppointment.nbn_appointment_id == bindparam("nbn_appointment_id"))
        .scalar_subquery(),
        _ANSWER.with_only_columns(SimNbnCancellation.outcome).scalar_subquery(),
    )
)
ANSWER = compiled(_ANSWER)
LOCKED_APPOINTMENT = compiled(
    select(SimNbnAppointment.scenario, SimNbnAppointment.status, SimNbnAppointment.start_time)
    .where(SimNbnAppointment.nbn_appointment_id == bindparam("nbn_appointment_id"))
    .with_for_update()
)
RECORD_ANSWER = compiled(
    insert(SimNbnCancellation).values(
        request_key=bindparam("request_key"),
        nbn_appointment_id=bindparam("nbn_appointment_id"),
        outcome=bindparam("outcome"),
        message=bindparam("message"),
        decided_at=bindparam("decided_at"),
    )
)
CANCEL_APPOINTMENT = compiled(
    update(SimNbnAppointment)
    .where(SimNbnAppointment.nbn_appointment_id == bindparam("nbn_appointment_id"))
    .values(status=scenarios.NBN_CANCELLED, cancelled_at=bindparam("cancelled_at"))
)
LOCKED_SERVICE = compiled(
    select(SimNbnService.scenario, SimNbnService.status, SimNbnService.submissions)
    .where(SimNbnService.nbn_service_id == bindparam("nbn_service_id"))
    .with_for_update()
)
SERVICE_ANSWER = compiled(
    select(
        SimNbnServiceCancellation.outcome,
        SimNbnServiceCancellation.message,
        SimNbnServiceCancellation.decided_at,
    ).where(SimNbnServiceCancellation.request_key == bindparam("request_key"))
)
COUNT_SUBMISSION = compiled(
    update(SimNbnService)
    .where(SimNbnService.nbn_service_id == bindparam("nbn_service_id"))
    .values(submissions=SimNbnService.submissions + 1)
)
CANCEL_SERVICE = compiled(
    update(SimNbnService)
    .where(SimNbnService.nbn_service_id == bindparam("nbn_service_id"))
    .values(status=service_scenarios.NBN_CANCELLED, cancelled_at=bindparam("cancelled_at"))
)
RECORD_SERVICE_ANSWER = compiled(
    insert(SimNbnServiceCancellation).values(
        request_key=bindparam("request_key"),
        nbn_service_id=bindparam("nbn_service_id"),
        cancellation_date=bindparam("cancellation_date"),
        outcome=bindparam("outcome"),
        message=bindparam("message"),
        decided_at=bindparam("decided_at"),
    )
)
EFFECTIVE = select(func.count()).where(SimNbnCancellation.outcome == ACCEPTED)
EFFECTIVE_ALL = compiled(EFFECTIVE)
EFFECTIVE_ONE = compiled(
    EFFECTIVE.where(SimNbnCancellation.nbn_appointment_id == bindparam("nbn_appointment_id"))
)


@dataclass(frozen=True)
class _Answer:
    outcome: str
    message: str | None
    decided_at: datetime

    def result(self) -> CancelOutcome:
        if self.outcome == ACCEPTED:
            return CancelAccepted(cancelled_at=self.decided_at)
        return CancelRefused(message=self.message or "")


def _answer(result: CancelOutcome, now: datetime) -> _Answer:
    if isinstance(result, CancelAccepted):
        return _Answer(ACCEPTED, None, now)
    return _Answer(REFUSED, result.message, now)


class NbnSimulator:
    """An NbnPort that plays each appointment's scenario; shared by every process via the DB."""

    def __init__(self, database: Database, *, ponr_hours: int, slow_seconds: float) -> None:
        self.database = database
        self.ponr_hours = ponr_hours
        self.slow_seconds = slow_seconds

    @traced("nbn check cancellable", attributes=SIMULATED)
    async def check_cancellable(
        self, *, nbn_appointment_id: str, at: datetime | None = None
    ) -> NbnCheck:
        """Answer the pre-check from the appointment's nbn status and start time."""
        row = await self.database.one(APPOINTMENT, {"nbn_appointment_id": nbn_appointment_id})
        if row is None:
            return NbnCheck.INVALID_STATE
        scenario, status, start_time = row
        if scenario == scenarios.UPSTREAM_UNAVAILABLE:
            raise NbnUnavailable("simulated outage")
        return scenarios.check(status, start_time, at or datetime.now(UTC), self.ponr_hours)

    @traced("nbn cancel", attributes=SIMULATED)
    async def cancel(
        self, *, nbn_appointment_id: str, request_key: str, at: datetime | None = None
    ) -> CancelOutcome:
        """Process a cancellation once per request key; a repeated key gets the first answer."""
        params = {"nbn_appointment_id": nbn_appointment_id, "request_key": request_key}
        found = await self.database.one(SCENARIO_AND_ANSWER, params)
        scenario, answered = found if found is not None else (None, None)
        if answered is None and scenario == scenarios.UPSTREAM_UNAVAILABLE:
            raise NbnUnavailable("simulated outage")
        if answered is None and scenario == scenarios.BOOKED_SLOW:
            # The nbn takes a while with this one: the client sees 202 before the outcome.
            await asyncio.sleep(self.slow_seconds)
        async with self.database.unit_of_work() as uow:
            return await self._decide(uow, nbn_appointment_id, request_key, at)

    async def _decide(
        self, uow: UnitOfWork, nbn_appointment_id: str, request_key: str, at: datetime | None
    ) -> CancelOutcome:
        # Lock, then look for the key: a concurrent retry with the same key waits here and
        # then finds the first call's answer.
        await uow.begin()
        row = await uow.one(LOCKED_APPOINTMENT, {"nbn_appointment_id": nbn_appointment_id})
        previous = await uow.one(ANSWER, {"request_key": request_key})
        if previous is not None:
            return _Answer(*previous).result()
        now = at or datetime.now(UTC)
        result: CancelOutcome
        if row is None:
            message = scenarios.refusal_message(NbnCheck.INVALID_STATE, nbn_appointment_id)
            result = CancelRefused(message)
        elif row[0] == scenarios.FAILS_IN_PROCESSING:
            result = CancelRefused(scenarios.past_cponr_message(nbn_appointment_id))
        else:
            verdict = scenarios.check(row[1], row[2], now, self.ponr_hours)
            if verdict == NbnCheck.CANCELLABLE:
                await uow.execute(
                    CANCEL_APPOINTMENT,
                    {"nbn_appointment_id": nbn_appointment_id, "cancelled_at": now},
                )
                result = CancelAccepted(cancelled_at=now)
            else:
                result = CancelRefused(scenarios.refusal_message(verdict, nbn_appointment_id))
        answer = _answer(result, now)
        await uow.execute(
            RECORD_ANSWER,
            {
                "request_key": request_key,
                "nbn_appointment_id": nbn_appointment_id,
                "outcome": answer.outcome,
                "message": answer.message,
                "decided_at": answer.decided_at,
            },
        )
        return result

    @traced("nbn cancel service", attributes=SIMULATED)
    async def cancel_service(
        self,
        *,
        nbn_service_id: str,
        cancellation_date: date,
        request_key: str,
        at: datetime | None = None,
    ) -> CancelOutcome:
        """Process a service cancellation once per request key, as the service's scenario says."""
        async with self.database.unit_of_work() as uow:
            result = await self._decide_service(
                uow, nbn_service_id, cancellation_date, request_key, at
            )
        if result is None:
            raise NbnUnavailable("simulated outage")
        return result

    async def _decide_service(
        self,
        uow: UnitOfWork,
        nbn_service_id: str,
        cancellation_date: date,
        request_key: str,
        at: datetime | None,
    ) -> CancelOutcome | None:
        # Lock, then look for the key (as `_decide` does).
        await uow.begin()
        row = await uow.one(LOCKED_SERVICE, {"nbn_service_id": nbn_service_id})
        previous = await uow.one(SERVICE_ANSWER, {"request_key": request_key})
        if previous is not None:
            return _Answer(*previous).result()
        scenario, status, submissions = row if row is not None else (None, None, 0)
        decision = service_scenarios.verdict(scenario, status, submissions)
        if row is not None:
            # Committed even when the answer is "unavailable".
            await uow.execute(COUNT_SUBMISSION, {"nbn_service_id": nbn_service_id})
        now = at or datetime.now(UTC)
        result: CancelOutcome | None = None
        if decision == Verdict.ACCEPT and row is not None:
            await uow.execute(
                CANCEL_SERVICE, {"nbn_service_id": nbn_service_id, "cancelled_at": now}
            )
            result = CancelAccepted(cancelled_at=now)
        elif decision == Verdict.REJECT:
            message = service_scenarios.rejection_message(nbn_service_id, scenario, status)
            result = CancelRefused(message)
        if result is not None:
            answer = _answer(result, now)
            await uow.execute(
                RECORD_SERVICE_ANSWER,
                {
                    "request_key": request_key,
                    "nbn_service_id": nbn_service_id,
                    "cancellation_date": cancellation_date,
                    "outcome": answer.outcome,
                    "message": answer.message,
                    "decided_at": answer.decided_at,
                },
            )
        return result

    async def effective_cancellations(self, nbn_appointment_id: str | None = None) -> int:
        """How many cancellations the nbn carried out (for tests and the crash benchmark)."""
        if nbn_appointment_id is None:
            return int((await self.database.one(EFFECTIVE_ALL) or (0,))[0])
        row = await self.database.one(EFFECTIVE_ONE, {"nbn_appointment_id": nbn_appointment_id})
        return int((row or (0,))[0])

    async def close(self) -> None:
        """Nothing to release: the database belongs to the process."""
