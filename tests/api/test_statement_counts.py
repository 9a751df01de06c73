"""How many statements the hot paths send to PostgreSQL, pinned: a change that adds a round trip
to a POST, a status GET or a job fails here (a count, not a timing).

The application runs in this process (so that every statement its connections send can be
counted); the simulated nbn's own statements are counted apart, as a real upstream's would not
be ours.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from fastapi import FastAPI
from procrastinate import JobContext
from procrastinate.jobs import Status
from sqlalchemy import text

from cancelgate.app import create_app
from cancelgate.appointments.models import Appointment
from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.auth.clients import client_by_client_id, create_client
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.jobs.app import jobs_app
from cancelgate.keys import instance_keys_in
from cancelgate.settings import Settings
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn.simulator import NbnSimulator
from cancelgate.worker import RUNTIME
from tests.api.conftest import Sessions
from tests.support import REQUEST, location_id, migrated_database

BASE = "http://cancelgate.test"


@dataclass
class Sent:
    """The statements sent while counting, as the first words of their SQL."""

    statements: list[str] = field(default_factory=list)
    simulated: list[bool] = field(default_factory=list)

    def ours(self) -> list[str]:
        """Those that are not the simulated nbn's (it works in its own transactions)."""
        return [s for s, sim in zip(self.statements, self.simulated, strict=True) if not sim]


# Set while the simulated nbn works: its statements are an upstream's, not ours.
IN_SIMULATOR: ContextVar[bool] = ContextVar("in_simulator", default=False)


def _first_words(query: Any) -> str:
    """The statement's first words, up to its first parenthesis or placeholder."""
    text = query.decode() if isinstance(query, bytes) else str(query)
    if "procrastinate_defer_jobs" in text:
        return "DEFER job"
    words = text.split("(")[0].split()
    # "INSERT INTO t", else the verb and its first word: "SELECT t.id", "UPDATE t".
    return " ".join(words[: 3 if words[:1] == ["INSERT"] else 2]).rstrip(",")


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Every statement any psycopg cursor of this process executes, while the block runs."""
    sent = Sent()
    execute = psycopg.AsyncCursor.execute

    async def counted(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.statements.append(_first_words(query))
        sent.simulated.append(IN_SIMULATOR.get())
        return await execute(self, query, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(psycopg.AsyncCursor, "execute", counted)
        for name in ("check_cancellable", "cancel"):
            patch.setattr(NbnSimulator, name, _marked(getattr(NbnSimulator, name)))
        yield sent


def _marked(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def marked(*args: Any, **kwargs: Any) -> Any:
        token = IN_SIMULATOR.set(True)
        try:
            return await method(*args, **kwargs)
        finally:
            IN_SIMULATOR.reset(token)

    return marked


@dataclass
class InProcess:
    app: FastAPI
    http: httpx.AsyncClient
    headers: dict[str, str]
    tenant_id: int
    db: Sessions


@pytest.fixture(scope="module")
def own_database(database_url: str) -> Iterator[str]:
    """A database of this module's own: no server's worker takes the jobs counted here."""
    with migrated_database(database_url) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def in_process(own_database: str) -> AsyncIterator[InProcess]:
    """The application in this process (no worker of its own), and a caller's headers."""
    settings = Settings(database_url=own_database, in_process_worker=False, log_level="WARNING")
    app = create_app(settings)
    engine = make_engine(own_database, pool_size=2)
    db = make_sessionmaker(engine)
    async with db() as session:
        keys = await instance_keys_in(session)
        created = await create_client(session, keys.pepper, tenant=f"count-{uuid.uuid4().hex[:8]}")
        await session.commit()
        client = await client_by_client_id(session, created.client_id)
        assert client is not None
        tenant_id = client.tenant_id
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http,
    ):
        token = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(created.client_id, created.client_secret),
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "X-API-VERSION": "8"}
        yield InProcess(app, http, headers, tenant_id, db)
    await engine.dispose()


async def appointment(app: InProcess, scenario: str) -> Appointment:
    async with app.db() as session:
        created = await create_appointment(session, tenant_id=app.tenant_id, scenario=scenario)
        await session.commit()
        return created


async def post(app: InProcess, appointment_id: int, **extra: str) -> httpx.Response:
    response = await app.http.post(
        REQUEST, json={"appointmentId": appointment_id}, headers={**app.headers, **extra}
    )
    assert response.status_code == 201, response.text
    return response


async def test_a_post_reads_once_and_writes_once(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    await post(in_process, (await appointment(in_process, scenarios.BOOKED)).id)
    fresh = await appointment(in_process, scenarios.BOOKED)
    with counting(monkeypatch) as sent:
        await post(in_process, fresh.id)
    # The read (appointment and its open request), then one transaction: lock and re-check,
    # insert, defer the job. The bearer token was verified by the first POST (cached).
    assert sent.ours() == [
        "SELECT appointments.id",
        "BEGIN",
        "SELECT appointments.id",
        "INSERT INTO appointment_cancellations",
        "DEFER job",
        "COMMIT",
    ], sent.statements
    # The simulated nbn's pre-check: one read of its own.
    assert len(sent.statements) - len(sent.ours()) == 1


async def test_a_post_with_an_idempotency_key_adds_its_claim_and_completion(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    await post(in_process, (await appointment(in_process, scenarios.BOOKED)).id)
    fresh = await appointment(in_process, scenarios.BOOKED)
    with counting(monkeypatch) as sent:
        await post(in_process, fresh.id, **{"Idempotency-Key": str(uuid.uuid4())})
    assert sent.ours()[0] == "INSERT INTO idempotency_keys"
    assert sent.ours()[-1] == "UPDATE idempotency_keys"
    assert len(sent.ours()) == 6 + 2, sent.statements


async def test_a_status_get_is_one_statement_in_progress_or_done(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = await post(in_process, (await appointment(in_process, scenarios.BOOKED_SLOW)).id)
    location = slow.headers["location"]
    with counting(monkeypatch) as sent:
        in_progress = await in_process.http.get(location, headers=in_process.headers)
    assert in_progress.status_code == 202
    assert sent.statements == ["SELECT appointment_cancellations.id"], sent.statements
    await run_one_job(in_process, location_id(location), monkeypatch)
    with counting(monkeypatch) as sent:
        done = await in_process.http.get(location, headers=in_process.headers)
    assert done.status_code == 200, done.text
    assert sent.statements == ["SELECT appointment_cancellations.id"], sent.statements


@dataclass
class JobRun:
    """What one job sent: the queue's fetch, the run itself, the queue's finish."""

    fetch: Sent
    run: Sent
    finish: Sent


async def run_one_job(
    app: InProcess, cancellation_id: int, monkeypatch: pytest.MonkeyPatch
) -> JobRun:
    """Fetch, run and finish the job of this cancellation, as a worker does, counting each."""
    async with app.db.begin() as session:
        # Only this cancellation's job waits: the other tests' jobs are not run here.
        await session.execute(
            text("DELETE FROM procrastinate_jobs WHERE (args->>'cancellation_id')::int <> :id"),
            {"id": cancellation_id},
        )
    manager = jobs_app.job_manager
    worker_id = await manager.register_worker()
    try:
        with counting(monkeypatch) as fetch:
            job = await manager.fetch_job(queues=None, worker_id=worker_id)
        assert job is not None and job.task_kwargs == {"cancellation_id": cancellation_id}
        context = JobContext(
            app=jobs_app,
            job=job,
            start_timestamp=time.time(),
            additional_context={RUNTIME: app.app.state.runtime},
            abort_reason=lambda: None,
        )
        with counting(monkeypatch) as run:
            await jobs_app.tasks[SUBMIT_TASK](context, **job.task_kwargs)
        with counting(monkeypatch) as finish:
            await manager.finish_job(job, Status.SUCCEEDED, delete_job=False)
    finally:
        await manager.unregister_worker(worker_id)
    return JobRun(fetch, run, finish)


async def test_a_job_makes_few_round_trips(
    in_process: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = await post(in_process, (await appointment(in_process, scenarios.BOOKED)).id)
    job = await run_one_job(in_process, location_id(response.headers["location"]), monkeypatch)
    assert len(job.fetch.statements) == len(job.finish.statements) == 1
    # Load; then one transaction: lock, the cancellation, the appointment, the event and its
    # deliveries (none: no subscription).
    assert job.run.ours() == [
        "SELECT appointment_cancellations.id",
        "BEGIN",
        "SELECT appointment_cancellations.id",
        "UPDATE appointment_cancellations",
        "UPDATE appointments",
        "INSERT INTO events",
        "INSERT INTO webhook_deliveries",
        "COMMIT",
    ], job.run.statements
