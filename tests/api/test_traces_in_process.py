"""One trace per cancellation, in one process with the SDK's in-memory exporter: the POST's server
span, the job it deferred (run here as a worker runs it), the nbn calls, the event, and the
webhook attempt, with their parentage; SQL statements as child spans, never traces of their own.

tests/e2e/test_traces.py checks the same across an API process and a worker process over OTLP.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id
from procrastinate import JobContext
from procrastinate.jobs import Status

from cancelgate.app import create_app
from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.auth.clients import client_by_client_id, create_client
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.jobs.app import jobs_app
from cancelgate.keys import instance_keys_in
from cancelgate.observability import tracing
from cancelgate.settings import Settings
from cancelgate.upstream.nbn import scenarios
from cancelgate.webhooks.events import DELIVER_TASK
from cancelgate.worker import RUNTIME
from tests.receiver import Receiver, receiving
from tests.support import REQUEST, SUBSCRIPTIONS, migrated_database

BASE = "http://cancelgate.test"
POST_SPAN = f"POST {REQUEST}"


@pytest.fixture(scope="module")
def own_database(database_url: str) -> Iterator[str]:
    """A database of this module's own: no server's worker takes the jobs run here."""
    with migrated_database(database_url) as url:
        yield url


@dataclass
class Traced:
    app: FastAPI
    http: httpx.AsyncClient
    headers: dict[str, str]
    spans: InMemorySpanExporter
    hooks: Receiver
    appointment_id: int


@pytest_asyncio.fixture(loop_scope="session")
async def traced(own_database: str) -> AsyncIterator[Traced]:
    """The application in this process with tracing on (spans kept in memory, SQL spans too), a
    caller subscribed to a local webhook receiver, and one booked appointment of theirs."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider, sql=True)
    try:
        settings = Settings(
            database_url=own_database,
            in_process_worker=False,
            webhook_allow_insecure=True,
            log_level="WARNING",
        )
        app = create_app(settings)
        engine = make_engine(own_database, pool_size=1)
        async with make_sessionmaker(engine)() as session:
            keys = await instance_keys_in(session)
            tenant = f"traces-{uuid.uuid4().hex[:8]}"
            created = await create_client(session, keys.pepper, tenant=tenant)
            client = await client_by_client_id(session, created.client_id)
            assert client is not None
            appointment = await create_appointment(
                session, tenant_id=client.tenant_id, scenario=scenarios.BOOKED
            )
            await session.commit()
        await engine.dispose()
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http,
        ):
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(created.client_id, created.client_secret),
            )
            headers = {
                "Authorization": f"Bearer {token.json()['access_token']}",
                "X-API-VERSION": "8",
            }
            with receiving() as hooks:
                body = {"url": hooks.url, "events": ["appointment.cancelled"]}
                subscribed = await http.post(SUBSCRIPTIONS, json=body, headers=headers)
                assert subscribed.status_code == 201, subscribed.text
                exporter.clear()
                yield Traced(app, http, headers, exporter, hooks, appointment.id)
    finally:
        tracing.uninstall()
        provider.shutdown()


async def run_next_job(app: FastAPI, task: str) -> dict[str, Any]:
    """Fetch the one job waiting, check its task, run and finish it as a worker does; its
    kwargs as stored."""
    manager = jobs_app.job_manager
    worker_id = await manager.register_worker()
    try:
        job = await manager.fetch_job(queues=None, worker_id=worker_id)
        assert job is not None and job.task_name == task
        context = JobContext(
            app=jobs_app,
            job=job,
            start_timestamp=time.time(),
            additional_context={RUNTIME: app.state.runtime},
            abort_reason=lambda: None,
        )
        await jobs_app.tasks[task](context, **job.task_kwargs)
        await manager.finish_job(job, Status.SUCCEEDED, delete_job=False)
    finally:
        await manager.unregister_worker(worker_id)
    kwargs: dict[str, Any] = job.task_kwargs
    return kwargs


def only(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, (name, [span.name for span in spans])
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def is_sql(span: ReadableSpan) -> bool:
    return any(key.startswith("db.") for key in span.attributes or {})


async def test_a_cancellation_is_one_trace_from_the_post_to_the_webhook(traced: Traced) -> None:
    posted = await traced.http.post(
        REQUEST, json={"appointmentId": traced.appointment_id}, headers=traced.headers
    )
    assert posted.status_code == 201, posted.text
    submit = await run_next_job(traced.app, SUBMIT_TASK)
    deliver = await run_next_job(traced.app, DELIVER_TASK)
    [hook] = await traced.hooks.arrived(1)

    spans = list(traced.spans.get_finished_spans())
    server = only(spans, POST_SPAN)
    trace_id = server.context.trace_id
    in_trace = [span for span in spans if span.context.trace_id == trace_id]
    check = only(in_trace, "nbn check cancellable")
    job = only(in_trace, f"job {SUBMIT_TASK}")
    cancel = only(in_trace, "nbn cancel")
    event = only(in_trace, "event appointment.cancelled")
    delivery_job = only(in_trace, f"job {DELIVER_TASK}")
    attempt = only(in_trace, "webhook attempt")
    job_id = job.context.span_id

    assert server.kind == SpanKind.SERVER and server.parent is None
    assert server.attributes is not None
    assert server.attributes["cancelgate.request_id"] == posted.headers["x-request-id"]
    assert parent_of(check) == server.context.span_id
    assert parent_of(job) == server.context.span_id and job.kind == SpanKind.CONSUMER
    assert parent_of(cancel) == job.context.span_id and cancel.kind == SpanKind.CLIENT
    assert parent_of(event) == job.context.span_id
    assert parent_of(delivery_job) == event.context.span_id
    assert parent_of(attempt) == delivery_job.context.span_id
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 200
    assert attempt.attributes["server.address"] == "127.0.0.1"
    # The jobs carried the context they were deferred in; the tenant's receiver got none.
    assert submit["_trace"]["request_id"] == posted.headers["x-request-id"]
    assert deliver["_trace"]["traceparent"].split("-")[2] == format_span_id(event.context.span_id)
    assert "traceparent" not in hook.headers
    # SQL statements are children: of the request, of the job (its transaction), of the nbn's.
    sql_parents = {parent_of(span) for span in in_trace if is_sql(span)}
    assert {server.context.span_id, job.context.span_id, cancel.context.span_id} <= sql_parents
    in_job = [span.name for span in in_trace if is_sql(span) and parent_of(span) == job_id]
    assert {"SELECT", "BEGIN", "UPDATE", "COMMIT"} <= set(in_job), in_job
    # …and never a trace of their own (the job queue's own statements ran outside any span).
    assert not [span for span in spans if is_sql(span) and span.parent is None]
