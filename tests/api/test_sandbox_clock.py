"""Sandbox test clocks: each tenant moves its own business clock forward, and only its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from cancelgate.db.urls import libpq_url
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from tests.api.checks import assert_error, poll
from tests.api.conftest import Caller
from tests.support import REQUEST, SYDNEY, in_days, query

CLOCK = "/api/connect/sandbox/clock"
ADVANCE = f"{CLOCK}/advance"
SERVICE_REQUEST = "/api/connect/services/service-cancellations/request"
OBJECT = "advanceClockCommand"
DAY = 24 * 3600


async def clock_of(caller: Caller) -> dict[str, Any]:
    response = await caller.http.get(CLOCK, headers=caller.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def advance(caller: Caller, body: dict[str, Any]) -> httpx.Response:
    return await caller.http.post(ADVANCE, json=body, headers=caller.headers())


async def test_a_new_tenants_clock_is_the_real_one_in_the_business_time_zone(
    caller: Caller,
) -> None:
    body = await clock_of(caller)
    assert list(body) == ["now", "offsetSeconds"] and body["offsetSeconds"] == 0
    now = datetime.fromisoformat(body["now"])
    assert abs((now - datetime.now(UTC)).total_seconds()) < 5
    assert now.utcoffset() == datetime.now(SYDNEY).utcoffset()


async def test_advancing_moves_this_tenants_clock_only(
    caller: Caller, other_caller: Caller
) -> None:
    moved = await advance(caller, {"seconds": 3 * DAY})
    assert moved.status_code == 200, moved.text
    assert moved.json()["offsetSeconds"] == 3 * DAY
    assert (await clock_of(caller))["offsetSeconds"] == 3 * DAY
    ahead = datetime.fromisoformat((await clock_of(caller))["now"])
    assert ahead - datetime.now(UTC) > timedelta(days=3) - timedelta(seconds=5)
    assert (await clock_of(other_caller))["offsetSeconds"] == 0

    target = datetime.now(UTC) + timedelta(days=10)
    to = await advance(caller, {"to": target.astimezone(SYDNEY).isoformat()})
    assert to.status_code == 200, to.text
    assert abs((datetime.fromisoformat(to.json()["now"]) - target).total_seconds()) < 5


@pytest.mark.parametrize(
    ("body", "code", "field", "rejected"),
    [
        ({"seconds": -1}, "constraints.clock.forward", "seconds", -1),
        ({"to": "2020-01-01T00:00:00+10:00"}, "constraints.clock.forward", "to",
         "2020-01-01T00:00:00+10:00"),
        ({"to": "9999-12-31T00:00:00Z"}, "constraints.clock.forward", "to",
         "9999-12-31T00:00:00Z"),
        ({"seconds": 1e12}, "constraints.range", "seconds", 1e12),
        ({}, "constraints.clock.advance", "", None),
        ({"seconds": 1, "to": "2099-01-01T00:00:00Z"}, "constraints.clock.advance", "", None),
        ({"to": "tomorrow"}, "constraints.type.mismatch", "to", "tomorrow"),
        ({"to": "2099-01-01T00:00:00"}, "constraints.type.mismatch", "to", "2099-01-01T00:00:00"),
        ({"seconds": "60"}, "constraints.type.mismatch", "seconds", "60"),
    ],
)  # fmt: skip
async def test_a_clock_moves_forward_only_and_says_why_not(
    caller: Caller, body: dict[str, Any], code: str, field: str, rejected: object
) -> None:
    error = assert_error(
        await advance(caller, body), 422, "client.validation", "method.argument.not.valid"
        if code != "constraints.clock.forward" else "validation",
    )  # fmt: skip
    [sub] = error["apiSubErrors"]
    assert (sub["code"], sub["object"], sub["field"], sub["rejectedValue"]) == (
        code, OBJECT, field, rejected,
    )  # fmt: skip
    assert (await clock_of(caller))["offsetSeconds"] == 0


async def test_the_point_of_no_return_follows_the_tenants_clock(
    caller: Caller, other_caller: Caller
) -> None:
    # A booked fixture starts in a week; the nbn refuses within 48 hours of the start.
    mine = await caller.appointment(scenarios.BOOKED)
    theirs = await other_caller.appointment(scenarios.BOOKED)
    assert (await advance(caller, {"seconds": 6 * DAY})).status_code == 200
    refused = assert_error(
        await caller.http.post(REQUEST, json={"appointmentId": mine.id}, headers=caller.headers()),
        422, "client.validation", "validation",
    )  # fmt: skip
    assert refused["apiSubErrors"][0]["message"] == "Appointment is past point of no return."
    accepted = await other_caller.http.post(
        REQUEST, json={"appointmentId": theirs.id}, headers=other_caller.headers()
    )
    assert accepted.status_code == 201, accepted.text


async def test_today_for_a_cancellation_date_is_the_tenants(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    assert (await advance(caller, {"seconds": 3 * DAY})).status_code == 200
    body = {"serviceId": service.id, "cancellationDate": in_days(1)}
    response = await caller.http.post(SERVICE_REQUEST, json=body, headers=caller.headers("7"))
    error = assert_error(response, 422, "client.validation", "method.argument.not.valid")
    assert error["apiSubErrors"][0]["code"] == "constraints.local.date.future.or.present"


async def test_a_cancellation_dated_ahead_is_submitted_when_the_clock_passes_its_date(
    caller: Caller, other_caller: Caller, database_url: str
) -> None:
    mine, theirs = await caller.service(sc.ACTIVE), await other_caller.service(sc.ACTIVE)
    day = in_days(14)
    for who, service in ((caller, mine), (other_caller, theirs)):
        body = {"serviceId": service.id, "cancellationDate": day}
        response = await who.http.post(SERVICE_REQUEST, json=body, headers=who.headers("7"))
        assert response.status_code == 201, response.text
    [(job_id,)] = query(
        database_url,
        "SELECT submission_job_id FROM service_cancellations WHERE service_id = %s",
        mine.id,
    )
    async with await psycopg.AsyncConnection.connect(
        libpq_url(database_url), autocommit=True
    ) as listening:
        # Idle workers wait for this notification (or their poll interval): it must name the
        # job that the advance made due.
        await listening.execute("LISTEN procrastinate_any_queue_v1")
        moved = await advance(caller, {"seconds": 15 * DAY})
        assert moved.status_code == 200, moved.text
        woken = [
            json.loads(n.payload)["job_id"]
            async for n in listening.notifies(timeout=5, stop_after=20)
        ]
        assert job_id in woken
    location = f"/api/connect/services/service-cancellations/requests/{mine.id}"
    outcome = await poll(caller, location, timeout=20, version="7")
    assert outcome.status_code == 200, outcome.text
    assert outcome.json()["status"] == "COMPLETED"
    # Stamped on the tenant's clock: after 00:00 of its date there, two weeks from now here.
    cancelled_on = datetime.fromisoformat(outcome.json()["cancelledOn"].replace("Z", "+00:00"))
    assert cancelled_on.astimezone(SYDNEY).date().isoformat() >= day
    other = await other_caller.http.get(
        f"/api/connect/services/service-cancellations/requests/{theirs.id}",
        headers=other_caller.headers("7"),
    )
    assert other.json()["status"] == "REQUESTED"
