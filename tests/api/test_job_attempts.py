"""A job's attempts as the console's timeline shows them: an attempt that asked for a retry is
kept with its error and its upstream calls, in the attempt's own transaction; an attempt that
raised is kept apart (its transaction rolled back); successful attempts come from the queue's
own events. The app and its worker run in this process, on the module's database, with an nbn
whose `cancel` fails as each test plans."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest_asyncio

from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.jobs.attempts import FAILED, RETRY, attempts_of
from cancelgate.runtime import Runtime
from cancelgate.upstream.measured import MeasuredNbn
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn.port import CancelOutcome, NbnPort, NbnUnavailable
from tests.api.console_support import Operator, in_process, logged_in, make_client
from tests.support import REQUEST, count, location_id, query

OUTAGE = "simulated outage <b>503</b>"


class PlannedNbn:
    """The port's `cancel`, but raising each planned exception once, in order, first."""

    def __init__(self, port: NbnPort) -> None:
        self.plan: dict[str, list[Exception]] = {}
        self.cancel_for_real = port.cancel
        # The port's own method is replaced on this one instance (the worker calls it).
        setattr(port, "cancel", self.cancel)  # noqa: B010

    async def cancel(
        self, *, nbn_appointment_id: str, request_key: str, at: datetime | None = None
    ) -> CancelOutcome:
        planned = self.plan.get(nbn_appointment_id)
        if planned:
            raise planned.pop(0)
        return await self.cancel_for_real(
            nbn_appointment_id=nbn_appointment_id, request_key=request_key, at=at
        )


@dataclass
class Live:
    database_url: str
    runtime: Runtime
    http: httpx.AsyncClient
    headers: dict[str, str]
    nbn: PlannedNbn
    tenant_id: int


@pytest_asyncio.fixture(loop_scope="session")
async def live(console_db: str) -> AsyncIterator[Live]:
    """The app with its worker (quick polls, 1 s retries), a tenant's headers, a planned nbn."""
    tenant = f"attempts-{uuid.uuid4().hex[:6]}"
    made = await make_client(console_db, tenant=tenant, name="attempts")
    [(tenant_id,)] = query(console_db, "SELECT id FROM tenants WHERE name = %s", tenant)
    async with in_process(
        console_db, in_process_worker=True, worker_poll_seconds=0.1, job_retry_base_seconds=0.01
    ) as (app, http):
        runtime: Runtime = app.state.runtime
        assert isinstance(runtime.nbn, MeasuredNbn)  # metrics on: the port is measured
        nbn = PlannedNbn(runtime.nbn.port)
        token = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(made["client_id"], made["secret"]),
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "X-API-VERSION": "8"}
        yield Live(console_db, runtime, http, headers, nbn, tenant_id)


async def requested(live: Live, failures: list[Exception]) -> int:
    """A booked appointment whose nbn cancel first fails as planned, its cancellation requested
    through the API (its job deferred); the cancellation's id."""
    engine = make_engine(live.database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            appointment = await create_appointment(
                session, tenant_id=live.tenant_id, scenario=scenarios.BOOKED
            )
            await session.commit()
    finally:
        await engine.dispose()
    live.nbn.plan[appointment.nbn_appointment_id] = failures
    response = await live.http.post(
        REQUEST, json={"appointmentId": appointment.id}, headers=live.headers
    )
    assert response.status_code == 201, response.text
    return location_id(response.headers["location"])


async def until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    """Wait, bounded, until the condition holds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


def job_status(database_url: str, cancellation_id: int) -> str:
    """The queue's status of the cancellation's job (`succeeded` once the queue finished it)."""
    [(status,)] = query(
        database_url,
        "SELECT status::text FROM procrastinate_jobs WHERE args->>'cancellation_id' = %s",
        str(cancellation_id),
    )
    return str(status)


def status_of(database_url: str, cancellation_id: int) -> str:
    [(status,)] = query(
        database_url, "SELECT status FROM appointment_cancellations WHERE id = %s", cancellation_id
    )
    return str(status)


async def test_a_retried_attempt_keeps_its_error_and_upstream_calls(
    live: Live, operator: Operator
) -> None:
    cancellation_id = await requested(live, [NbnUnavailable(OUTAGE)])
    await until(lambda: job_status(live.database_url, cancellation_id) == "succeeded")
    assert status_of(live.database_url, cancellation_id) == "COMPLETED"
    first, second = await attempts_of(live.runtime.database, SUBMIT_TASK, cancellation_id)
    assert (first.attempt, first.outcome) == (1, RETRY)
    assert first.error is not None and OUTAGE in first.error
    [call] = first.upstream
    assert (call["upstream"], call["operation"], call["outcome"]) == (
        "nbn",
        "cancel",
        "unavailable",
    )
    assert call["detail"] == OUTAGE and call["ms"] >= 0
    assert (second.attempt, second.outcome, second.error) == (2, "succeeded", None)
    assert first.job_id == second.job_id
    assert first.started_at <= first.finished_at <= second.started_at <= second.finished_at  # type: ignore[operator]
    # The console's timeline shows both, the error escaped.
    await logged_in(live.http, operator)
    page = await live.http.get(f"/console/requests/{cancellation_id}")
    assert page.status_code == 200
    assert "simulated outage &lt;b&gt;503&lt;/b&gt;" in page.text and OUTAGE not in page.text
    assert "nbn cancel: unavailable" in page.text and "succeeded" in page.text


async def test_a_failed_attempt_is_kept_though_its_transaction_rolled_back(live: Live) -> None:
    cancellation_id = await requested(live, [RuntimeError("boom")])
    await until(
        lambda: (
            count(
                live.database_url,
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed'"
                " AND args->>'cancellation_id' = %s",
                str(cancellation_id),
            )
            == 1
        )
    )
    [attempt] = await attempts_of(live.runtime.database, SUBMIT_TASK, cancellation_id)
    assert (attempt.attempt, attempt.outcome, attempt.error) == (1, FAILED, "RuntimeError: boom")
    [call] = attempt.upstream
    assert (call["operation"], call["outcome"], call["detail"]) == ("cancel", "error", "boom")
    # The attempt's own writes were rolled back: the request is still in progress.
    assert status_of(live.database_url, cancellation_id) == "IN_PROGRESS"


async def test_no_attempt_is_recorded_for_a_success(live: Live) -> None:
    cancellation_id = await requested(live, [])
    await until(lambda: job_status(live.database_url, cancellation_id) == "succeeded")
    [attempt] = await attempts_of(live.runtime.database, SUBMIT_TASK, cancellation_id)
    assert (attempt.outcome, attempt.error, attempt.upstream) == ("succeeded", None, [])
    assert (
        count(
            live.database_url,
            "SELECT count(*) FROM job_attempt_errors e JOIN procrastinate_jobs j ON j.id = e.job_id"
            " WHERE j.args->>'cancellation_id' = %s",
            str(cancellation_id),
        )
        == 0
    )
