"""Races on service cancellations over HTTP against the real server: the database settles them.

Every command on a service holds the service's row lock, so concurrent commands are applied one
after another in some order; whatever the order, the outcome must be one the rules allow.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import httpx
from sqlalchemy import text

from cancelgate.clock import start_of_day
from cancelgate.upstream.nbn import service_scenarios as sc
from tests.api.checks import assert_error
from tests.api.conftest import Caller
from tests.api.test_service_cancellations import (
    ABORT,
    REQUEST,
    RESCHEDULE,
    outcome_url,
    post,
    request,
    resource,
)
from tests.support import SYDNEY, in_days, report

ALREADY_REQUESTED = "constraints.service-cancellation.already.requested"
NOT_REQUESTED = "constraints.service-cancellation.not.requested"
OPEN = {"REQUESTED", "IN_PROGRESS", "IN_ERROR_RETRY", "IN_ERROR"}
TASK = "services.submit_cancellation"

CONCURRENT_REQUESTS = 50
CONCURRENT_ABORTS = 20
MIX_EACH = 10  # reschedules, aborts and new requests per service in the mixed race
MIX_SERVICES = 5


def refusal_code(response: httpx.Response) -> str:
    """The one sub-error code of a 422 `validation` answer (the standard error checked)."""
    body = assert_error(response, 422, "client.validation", "validation", "Validation error")
    sub_errors = body["apiSubErrors"]
    assert isinstance(sub_errors, list) and len(sub_errors) == 1, sub_errors
    return str(sub_errors[0]["code"])


@dataclass(frozen=True)
class Row:
    """A stored service cancellation, as far as the races are concerned."""

    id: int
    status: str
    request_date: date
    submission: int
    submission_job_id: int | None


@dataclass(frozen=True)
class Job:
    """A procrastinate submission job still to run."""

    id: int
    cancellation_id: int
    submission: int
    scheduled_at: datetime | None


async def stored_rows(caller: Caller, service_id: int) -> list[Row]:
    """Every cancellation of the service, oldest first."""
    query = text(
        "SELECT id, status, request_date, submission, submission_job_id "
        "FROM service_cancellations WHERE service_id = :id ORDER BY id"
    )
    async with caller.db() as session:
        return [Row(*r) for r in await session.execute(query, {"id": service_id})]


async def todo_jobs(caller: Caller, service_id: int) -> list[Job]:
    """The submission jobs still to run for any cancellation of the service."""
    query = text(
        "SELECT j.id, (j.args->>'cancellation_id')::int, (j.args->>'submission')::int, "
        "j.scheduled_at FROM procrastinate_jobs j JOIN service_cancellations c "
        "ON c.id = (j.args->>'cancellation_id')::int "
        "WHERE j.task_name = :task AND j.status = 'todo' AND c.service_id = :id ORDER BY j.id"
    )
    async with caller.db() as session:
        return [Job(*r) for r in await session.execute(query, {"task": TASK, "id": service_id})]


async def settled(caller: Caller, service_id: int) -> tuple[list[Row], list[Job]]:
    """The service's stored cancellations and its submission jobs still to run."""
    return await stored_rows(caller, service_id), await todo_jobs(caller, service_id)


async def timed(*commands: Awaitable[httpx.Response]) -> tuple[list[httpx.Response], float]:
    """The answers of commands run at once, and the seconds they took together."""
    began = time.monotonic()
    responses = await asyncio.gather(*commands)
    return responses, time.monotonic() - began


def assert_one_won(
    responses: list[httpx.Response], status: int, code: str, n: int
) -> httpx.Response:
    """Of n answers, one is `status` and n - 1 are 422 refusals with code; returns the one."""
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {status: 1, 422: n - 1}, statuses
    refusals = Counter(refusal_code(r) for r in responses if r.status_code == 422)
    assert refusals == {code: n - 1}, refusals
    [won] = [r for r in responses if r.status_code == status]
    return won


def assert_scheduled_once(rows: list[Row], jobs: list[Job]) -> None:
    """One pending job for the open cancellation, at 00:00 of its date; none for the others."""
    open_rows = [row for row in rows if row.status in OPEN]
    assert len(open_rows) <= 1, open_rows
    by_cancellation = Counter(job.cancellation_id for job in jobs)
    for row in rows:
        if row.status not in OPEN:
            assert by_cancellation[row.id] == 0, (row, jobs)
    for row in open_rows:
        # A REQUESTED cancellation for a future date must be scheduled exactly once, by its
        # current submission number: anything else would submit twice, at a stale date, or never.
        [job] = [job for job in jobs if job.cancellation_id == row.id]
        assert (job.id, job.submission) == (row.submission_job_id, row.submission), (row, job)
        assert job.scheduled_at == start_of_day(row.request_date, SYDNEY), (row, job)


async def test_concurrent_requests_for_one_service_store_one(caller: Caller) -> None:
    """50 concurrent requests for one active service: one 201, 49 already.requested, one row."""
    service = await caller.service(sc.ACTIVE)
    day = in_days(10)
    responses, elapsed = await timed(
        *(request(caller, service.id, day) for _ in range(CONCURRENT_REQUESTS))
    )
    rows, jobs = await settled(caller, service.id)
    report(
        test="concurrent-requests",
        requests=CONCURRENT_REQUESTS,
        statuses=dict(Counter(r.status_code for r in responses)),
        rows=len(rows),
        pending_jobs=len(jobs),
        elapsed_s=round(elapsed, 2),
    )
    created = assert_one_won(responses, 201, ALREADY_REQUESTED, CONCURRENT_REQUESTS)
    assert created.headers["location"] == outcome_url(service.id)
    assert [(r.status, r.request_date.isoformat()) for r in rows] == [("REQUESTED", day)]
    assert_scheduled_once(rows, jobs)
    body = await resource(caller, service.id)
    assert (body["status"], body["requestDate"]) == ("REQUESTED", day)


@dataclass(frozen=True)
class Command:
    """One command of the mixed race: its kind, the date it sends, and the answer."""

    kind: str  # "reschedule", "abort" or "request"
    day: str | None
    response: httpx.Response


async def send(caller: Caller, service_id: int, kind: str, day: str | None) -> Command:
    if kind == "reschedule":
        body: dict[str, Any] = {"serviceId": service_id, "cancellationDate": day}
        return Command(kind, day, await post(caller, RESCHEDULE, body))
    if kind == "abort":
        return Command(kind, None, await post(caller, ABORT, {"serviceId": service_id}))
    body = {"serviceId": service_id, "cancellationDate": day}
    return Command(kind, day, await post(caller, REQUEST, body))


async def test_mixed_commands_on_one_requested_cancellation_end_in_an_allowed_state(
    caller: Caller,
) -> None:
    """10 reschedules, 10 aborts and 10 requests at once, on each of 5 REQUESTED services.

    The commands are applied in some serial order, so: every answer is 201/204 or the refusal
    the state at that moment calls for; aborts and requests alternate (every request that
    succeeds follows an abort), so 204 aborts = 201 requests (+1 if it ends ABORTED); the final
    date is the initial one or one a successful command sent; the rows are the initial one plus
    one per 201, all ABORTED but the last; one pending job for an open cancellation, none for an
    aborted one.
    """
    figures: list[str] = []
    began = time.monotonic()
    for round_ in range(MIX_SERVICES):
        service = await caller.service(sc.CANCELLATION_REQUESTED)
        [initial] = await stored_rows(caller, service.id)
        plan: list[tuple[str, str | None]] = [
            *(("reschedule", in_days(20 + i)) for i in range(MIX_EACH)),
            *(("abort", None) for _ in range(MIX_EACH)),
            *(("request", in_days(40 + i)) for i in range(MIX_EACH)),
        ]
        random.Random(round_).shuffle(plan)
        commands = await asyncio.gather(
            *(send(caller, service.id, kind, day) for kind, day in plan)
        )
        succeeded: Counter[str] = Counter()
        dates_sent_ok: set[str] = set()
        for command in commands:
            status = command.response.status_code
            if command.kind == "request" and status == 201:
                succeeded["request"] += 1
            elif command.kind != "request" and status == 204:
                succeeded[command.kind] += 1
            else:
                expected = ALREADY_REQUESTED if command.kind == "request" else NOT_REQUESTED
                assert refusal_code(command.response) == expected, (command.kind, status)
                continue
            assert command.response.headers["location"] == outcome_url(service.id)
            if command.day is not None:
                dates_sent_ok.add(command.day)
        final = await resource(caller, service.id)
        rows, jobs = await settled(caller, service.id)
        figures.append(
            f"{final['status']}/abort={succeeded['abort']}/request={succeeded['request']}"
            f"/reschedule={succeeded['reschedule']}/rows={len(rows)}/jobs={len(jobs)}"
        )

        # The first abort, reschedule or request to run meets REQUESTED: at least one succeeds.
        assert sum(succeeded.values()) >= 1
        assert final["status"] in ("REQUESTED", "ABORTED"), final
        if final["status"] == "ABORTED":
            assert succeeded["abort"] == succeeded["request"] + 1, succeeded
            assert final["abortedOn"] and final["canRequestCancellation"] is True
        else:
            assert succeeded["abort"] == succeeded["request"], succeeded
            assert final["requestDate"] in dates_sent_ok | {initial.request_date.isoformat()}
            if not dates_sent_ok:
                assert final["requestDate"] == initial.request_date.isoformat()
            assert final["canAbortCancellation"] is final["canRescheduleCancellation"] is True
        assert len(rows) == 1 + succeeded["request"], rows
        assert rows[0].id == initial.id
        assert all(row.status == "ABORTED" for row in rows[:-1]), rows
        assert rows[-1].status == final["status"]
        assert rows[-1].request_date.isoformat() == final["requestDate"]
        assert sum(row.status == "ABORTED" for row in rows) == succeeded["abort"]
        assert_scheduled_once(rows, jobs)
        assert len(jobs) == (1 if final["status"] == "REQUESTED" else 0), jobs
    report(
        test="mixed-race",
        services=MIX_SERVICES,
        commands_per_service=3 * MIX_EACH,
        outcomes=",".join(figures),
        elapsed_s=round(time.monotonic() - began, 2),
    )


async def test_concurrent_aborts_abort_once(caller: Caller) -> None:
    """20 concurrent aborts of one REQUESTED cancellation: one 204, 19 not.requested."""
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    responses, elapsed = await timed(
        *(post(caller, ABORT, {"serviceId": service.id}) for _ in range(CONCURRENT_ABORTS))
    )
    rows, jobs = await settled(caller, service.id)
    report(
        test="concurrent-aborts",
        aborts=CONCURRENT_ABORTS,
        statuses=dict(Counter(r.status_code for r in responses)),
        rows=[row.status for row in rows],
        pending_jobs=len(jobs),
        elapsed_s=round(elapsed, 2),
    )
    assert_one_won(responses, 204, NOT_REQUESTED, CONCURRENT_ABORTS)
    assert [row.status for row in rows] == ["ABORTED"]
    assert jobs == []
    body = await resource(caller, service.id)
    assert body["status"] == "ABORTED" and body["abortedById"] == caller.client_pk
    assert body["canRequestCancellation"] is True
