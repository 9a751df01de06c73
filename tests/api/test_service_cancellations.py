"""The service-cancellation seed and its sibling endpoints, over HTTP against PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from cancelgate.clock import start_of_day
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.services.service import GAVE_UP
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.upstream.nbn.sim_models import SimNbnServiceCancellation
from cancelgate.webhooks.models import Event
from tests.api.checks import INSTANT, assert_error, assert_security_headers, poll
from tests.api.conftest import EMAIL, NAME, Caller
from tests.support import SYDNEY, in_days, sydney_today

SERVICES = "/api/connect/services"
BASE = f"{SERVICES}/service-cancellations"
REQUEST = f"{BASE}/request"
RESCHEDULE = f"{BASE}/requests/reschedule"
ABORT = f"{BASE}/requests/abort"
RESOURCE_FIELDS = [
    "serviceId", "status", "requestDate", "requestedOn", "requestedById", "requestedByName",
    "requestedByEmail", "errorDetail", "cancelledOn", "abortedOn", "abortedById",
    "abortedByName", "abortedByEmail", "canRequestCancellation", "canAbortCancellation",
    "canRescheduleCancellation", "cancelled",
]  # fmt: skip


def outcome_url(service_id: int) -> str:
    return f"{BASE}/requests/{service_id}"


async def post(
    caller: Caller, path: str, body: dict[str, Any], version: str = "7"
) -> httpx.Response:
    return await caller.http.post(path, json=body, headers=caller.headers(version))


async def get(caller: Caller, path: str, version: str = "7") -> httpx.Response:
    return await caller.http.get(path, headers=caller.headers(version))


async def resource(caller: Caller, service_id: int) -> dict[str, Any]:
    response = await get(caller, outcome_url(service_id))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def request(caller: Caller, service_id: int, day: str) -> httpx.Response:
    return await post(caller, REQUEST, {"serviceId": service_id, "cancellationDate": day})


async def stored(caller: Caller, service_id: int) -> ServiceCancellation:
    async with caller.db() as session:
        stmt = (
            select(ServiceCancellation)
            .where(ServiceCancellation.service_id == service_id)
            .order_by(ServiceCancellation.id.desc())
        )
        cancellation = (await session.execute(stmt)).scalars().first()
    assert cancellation is not None
    return cancellation


async def pending_jobs(caller: Caller, cancellation_id: int) -> list[tuple[int, datetime | None]]:
    """(submission, scheduled_at) of the service-cancellation jobs still to run."""
    query = text(
        "SELECT (args->>'submission')::int, scheduled_at FROM procrastinate_jobs "
        "WHERE task_name = 'services.submit_cancellation' AND status = 'todo' "
        "AND (args->>'cancellation_id')::int = :id ORDER BY id"
    )
    async with caller.db() as session:
        return [(r[0], r[1]) for r in await session.execute(query, {"id": cancellation_id})]


async def events_of(caller: Caller, service_id: int) -> list[Event]:
    async with caller.db() as session:
        stmt = select(Event).where(Event.model == "service", Event.subject_id == service_id)
        return list((await session.execute(stmt.order_by(Event.occurred_at))).scalars())


def not_requested(response: httpx.Response) -> None:
    body = assert_error(response, 422, "client.validation", "validation", "Validation error")
    assert body["apiSubErrors"] == [
        {
            "code": "constraints.service-cancellation.not.requested",
            "message": "The Service Cancellation is not requested",
            "object": "ServiceCancellation",
            "field": "status",
            "rejectedValue": None,
        }
    ]


def date_error(response: httpx.Response, object_name: str, rejected: object) -> None:
    body = assert_error(
        response, 422, "client.validation", "method.argument.not.valid", "Validation error"
    )
    assert body["apiSubErrors"] == [
        {
            "code": "constraints.local.date.future.or.present",
            "message": "must not be null or in the past",
            "object": object_name,
            "field": "cancellationDate",
            "rejectedValue": rejected,
        }
    ]


async def test_service_without_cancellation_shows_every_field_null(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    response = await get(caller, outcome_url(service.id))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert_security_headers(response)
    body = response.json()
    assert list(body) == RESOURCE_FIELDS
    assert body == {
        **dict.fromkeys(RESOURCE_FIELDS),
        "serviceId": service.id,
        "canRequestCancellation": True,
        "canAbortCancellation": False,
        "canRescheduleCancellation": False,
        "cancelled": False,
    }


async def test_not_eligible_service_cannot_be_requested(caller: Caller) -> None:
    service = await caller.service(sc.NOT_ELIGIBLE)
    assert (await resource(caller, service.id))["canRequestCancellation"] is False
    body = assert_error(
        await request(caller, service.id, in_days(3)), 422, "client.validation", "validation"
    )
    assert body["apiSubErrors"] == [
        {
            "code": "constraints.service.not.eligible.for.cancellation",
            "message": "The Service is not eligible for cancellation",
            "object": "Service",
            "field": "status",
            "rejectedValue": True,
        }
    ]


async def test_request_stores_requested_and_schedules_submission(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    day = in_days(5)
    before = datetime.now(SYDNEY).replace(microsecond=0)
    response = await request(caller, service.id, day)
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"] == outcome_url(service.id)
    assert_security_headers(response)
    body = await resource(caller, service.id)
    assert body["status"] == "REQUESTED" and body["requestDate"] == day
    assert INSTANT.match(body["requestedOn"])
    assert datetime.fromisoformat(body["requestedOn"]) >= before
    assert (body["requestedById"], body["requestedByName"], body["requestedByEmail"]) == (
        caller.client_pk, NAME, EMAIL,
    )  # fmt: skip
    assert body["canRequestCancellation"] is False
    assert body["canAbortCancellation"] is body["canRescheduleCancellation"] is True
    assert body["cancelled"] is False and body["errorDetail"] is None
    cancellation = await stored(caller, service.id)
    midnight = start_of_day(date.fromisoformat(day), SYDNEY)
    assert cancellation.submit_at == midnight
    assert await pending_jobs(caller, cancellation.id) == [(cancellation.submission, midnight)]


async def test_second_request_while_one_is_open_is_refused(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    body = assert_error(
        await request(caller, service.id, in_days(2)), 422, "client.validation", "validation"
    )
    assert body["apiSubErrors"][0]["code"] == "constraints.service-cancellation.already.requested"
    assert body["apiSubErrors"][0]["message"] == "The Service Cancellation is already requested"


async def test_cancelled_service_is_not_eligible(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLED)
    body = await resource(caller, service.id)
    assert body["status"] == "COMPLETED" and body["cancelled"] is True
    assert INSTANT.match(body["cancelledOn"])
    assert not any(body[k] for k in ("canRequestCancellation", "canAbortCancellation"))
    response = await request(caller, service.id, in_days(1))
    assert (
        assert_error(response, 422, "client.validation", "validation")["apiSubErrors"][0]["code"]
        == "constraints.service.not.eligible.for.cancellation"
    )


@pytest.mark.parametrize("body", [{"cancellationDate": None}, {}], ids=["null", "missing"])
async def test_request_without_date(caller: Caller, body: dict[str, Any]) -> None:
    service = await caller.service(sc.ACTIVE)
    response = await post(caller, REQUEST, {"serviceId": service.id, **body})
    date_error(response, "connectServiceCancellationRequestCommand", None)


async def test_request_in_the_past(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    day = in_days(-2)
    date_error(
        await request(caller, service.id, day), "connectServiceCancellationRequestCommand", day
    )


async def test_malformed_date_is_a_type_mismatch(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    response = await request(caller, service.id, "26/05/2025")
    body = assert_error(response, 422, "client.validation", "method.argument.not.valid")
    assert body["apiSubErrors"][0]["code"] == "constraints.type.mismatch"
    assert body["apiSubErrors"][0]["field"] == "cancellationDate"


async def test_reschedule_as_the_seed_shows(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    old = await stored(caller, service.id)
    day = in_days(20)
    response = await post(caller, RESCHEDULE, {"serviceId": service.id, "cancellationDate": day})
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["location"] == outcome_url(service.id)
    assert_security_headers(response)
    body = await resource(caller, service.id)
    assert body["status"] == "REQUESTED" and body["requestDate"] == day
    assert body["canAbortCancellation"] is body["canRescheduleCancellation"] is True
    new = await stored(caller, service.id)
    assert new.submission > old.submission and new.request_key != old.request_key
    midnight = start_of_day(date.fromisoformat(day), SYDNEY)
    assert await pending_jobs(caller, new.id) == [(new.submission, midnight)]


async def test_reschedule_mandatory_field_not_provided(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    response = await post(caller, RESCHEDULE, {"serviceId": service.id, "cancellationDate": None})
    date_error(response, "connectRescheduleServiceCancellationRequestCommand", None)
    assert (await resource(caller, service.id))["status"] == "REQUESTED"


@pytest.mark.parametrize(
    "scenario", [sc.ACTIVE, sc.CANCELLATION_IN_PROGRESS, sc.CANCELLED], ids=str
)
async def test_reschedule_and_abort_need_requested_or_in_error(
    caller: Caller, scenario: str
) -> None:
    service = await caller.service(scenario)
    not_requested(
        await post(caller, RESCHEDULE, {"serviceId": service.id, "cancellationDate": in_days(4)})
    )
    not_requested(await post(caller, ABORT, {"serviceId": service.id}))


async def test_abort_records_who_and_when(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    cancellation = await stored(caller, service.id)
    response = await post(caller, ABORT, {"serviceId": service.id})
    assert response.status_code == 204 and response.content == b""
    assert response.headers["location"] == outcome_url(service.id)
    body = await resource(caller, service.id)
    assert body["status"] == "ABORTED" and INSTANT.match(body["abortedOn"])
    assert (body["abortedById"], body["abortedByName"], body["abortedByEmail"]) == (
        caller.client_pk, NAME, EMAIL,
    )  # fmt: skip
    assert body["canRequestCancellation"] is True
    assert body["canAbortCancellation"] is body["canRescheduleCancellation"] is False
    assert await pending_jobs(caller, cancellation.id) == []
    not_requested(await post(caller, ABORT, {"serviceId": service.id}))
    assert (await request(caller, service.id, in_days(9))).status_code == 201


async def test_in_error_can_be_rescheduled_or_aborted(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_IN_ERROR)
    body = await resource(caller, service.id)
    assert body["status"] == "IN_ERROR" and body["errorDetail"] == GAVE_UP
    assert body["canAbortCancellation"] is body["canRescheduleCancellation"] is True
    assert body["canRequestCancellation"] is False
    day = in_days(6)
    response = await post(caller, RESCHEDULE, {"serviceId": service.id, "cancellationDate": day})
    assert response.status_code == 204
    body = await resource(caller, service.id)
    assert (body["status"], body["requestDate"], body["errorDetail"]) == ("REQUESTED", day, None)
    other = await caller.service(sc.CANCELLATION_IN_ERROR)
    assert (await post(caller, ABORT, {"serviceId": other.id})).status_code == 204
    assert (await resource(caller, other.id))["status"] == "ABORTED"


async def test_in_progress_answers_202_with_retry_after(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_IN_PROGRESS)
    response = await get(caller, outcome_url(service.id))
    assert response.status_code == 202 and response.content == b""
    # With the nbn for days already: no sooner than the longest Retry-After (5 s by default).
    assert response.headers["retry-after"] == "5"
    assert_security_headers(response)
    body = assert_error(
        await request(caller, service.id, in_days(1)), 422, "client.validation", "validation"
    )
    assert body["apiSubErrors"][0]["code"] == "constraints.service-cancellation.already.requested"


async def test_today_is_submitted_at_once_and_completes(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    response = await request(caller, service.id, sydney_today().isoformat())
    assert response.status_code == 201
    outcome = await poll(caller, response.headers["location"], version="7")
    assert outcome.status_code == 200, outcome.text
    body = outcome.json()
    assert body["status"] == "COMPLETED" and body["cancelled"] is True
    assert INSTANT.match(body["cancelledOn"]) and body["cancelledOn"] >= body["requestedOn"]
    assert not any(body[k] for k in ("canRequestCancellation", "canAbortCancellation"))
    events = await events_of(caller, service.id)
    assert [e.type for e in events] == ["service.cancelled"]
    assert events[0].payload == body
    async with caller.db() as session:
        row = await session.get(Service, service.id)
        calls = (
            (
                await session.execute(
                    select(SimNbnServiceCancellation).where(
                        SimNbnServiceCancellation.nbn_service_id == service.nbn_service_id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert row is not None and row.status == "cancelled"
    assert [(c.outcome, c.cancellation_date) for c in calls] == [("accepted", sydney_today())]
    shown = (await get(caller, f"{SERVICES}/{service.id}", "8")).json()
    assert shown["status"] == "cancelled" and shown["eligibleForCancellation"] is False


async def test_rejected_by_the_nbn_is_422_and_an_event(caller: Caller) -> None:
    service = await caller.service(sc.REJECTED_BY_NBN)
    location = (await request(caller, service.id, sydney_today().isoformat())).headers["location"]
    body = assert_error(
        await poll(caller, location, version="7"), 422, "client.validation", "validation"
    )
    [sub_error] = body["apiSubErrors"]
    assert sub_error["code"] == "constraints.service-cancellation.rejected"
    assert sub_error["rejectedValue"] == "REJECTED"
    assert service.nbn_service_id in sub_error["message"]
    events = await events_of(caller, service.id)
    assert [e.type for e in events] == ["service.cancellation-rejected"]
    assert events[0].payload["status"] == "REJECTED"
    assert events[0].payload["errorDetail"] == sub_error["message"]
    summary = (await get(caller, f"{SERVICES}/{service.id}", "8")).json()["serviceCancellation"]
    assert summary["status"] == "REJECTED" and summary["canRequestCancellation"] is True


async def test_flaky_nbn_is_retried_until_it_completes(caller: Caller) -> None:
    service = await caller.service(sc.NBN_FLAKY)
    location = (await request(caller, service.id, sydney_today().isoformat())).headers["location"]
    outcome = await poll(caller, location, timeout=30, version="7")
    assert outcome.status_code == 200 and outcome.json()["status"] == "COMPLETED"
    assert (await stored(caller, service.id)).attempts == 1


async def test_nbn_down_ends_in_error_after_the_retry_budget(caller: Caller) -> None:
    service = await caller.service(sc.NBN_DOWN)
    location = (await request(caller, service.id, sydney_today().isoformat())).headers["location"]
    outcome = await poll(caller, location, timeout=40, version="7")
    assert outcome.status_code == 200, outcome.text
    body = outcome.json()
    assert (body["status"], body["errorDetail"]) == ("IN_ERROR", GAVE_UP)
    assert body["canRescheduleCancellation"] is True
    cancellation = await stored(caller, service.id)
    assert cancellation.attempts == 3  # CANCELGATE_JOB_MAX_ATTEMPTS of the test server
    assert await pending_jobs(caller, cancellation.id) == []


async def test_sandbox_submits_a_future_request_now(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    path = f"/api/connect/sandbox/service-cancellations/requests/{service.id}/submit"
    response = await caller.http.post(path, headers=caller.headers("7"))
    assert response.status_code == 204 and response.headers["location"] == outcome_url(service.id)
    outcome = await poll(caller, outcome_url(service.id), version="7")
    assert outcome.json()["status"] == "COMPLETED"
    not_requested(await caller.http.post(path, headers=caller.headers("7")))


async def test_get_service(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    response = await get(caller, f"{SERVICES}/{service.id}", "8")
    assert response.status_code == 200
    assert_security_headers(response)
    body = response.json()
    assert list(body) == [
        "id", "nbnServiceId", "status", "eligibleForCancellation", "cancelledOn",
        "serviceCancellation",
    ]  # fmt: skip
    assert body["id"] == service.id and body["nbnServiceId"] == service.nbn_service_id
    assert body["status"] == "active" and body["eligibleForCancellation"] is True
    assert body["serviceCancellation"] == await resource(caller, service.id)


async def test_another_tenants_service_is_404_everywhere(
    caller: Caller, other_caller: Caller
) -> None:
    service = await other_caller.service(sc.CANCELLATION_REQUESTED)
    message = f"Resource with id {service.id} not found"
    responses = [
        await get(caller, outcome_url(service.id)),
        await get(caller, f"{SERVICES}/{service.id}", "8"),
        await request(caller, service.id, in_days(3)),
        await post(caller, RESCHEDULE, {"serviceId": service.id, "cancellationDate": in_days(3)}),
        await post(caller, ABORT, {"serviceId": service.id}),
        await caller.http.post(
            f"/api/connect/sandbox/service-cancellations/requests/{service.id}/submit",
            headers=caller.headers("7"),
        ),
    ]
    for response in responses:
        assert_error(response, 404, "business.rule", "resource.not.found", message)
    assert (await resource(other_caller, service.id))["status"] == "REQUESTED"
    unknown = 2_000_000_000
    assert_error(
        await get(caller, outcome_url(unknown)), 404, "business.rule", "resource.not.found"
    )


async def test_versions_one_to_seven(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    body = assert_error(
        await get(caller, outcome_url(service.id), "8"),
        400,
        "client.validation",
        "unsupported.api.version",
    )
    assert "supported versions: 1, 2, 3, 4, 5, 6, 7" in str(body["message"])
    deprecated = await get(caller, outcome_url(service.id), "1")
    assert deprecated.status_code == 200 and "deprecation" in deprecated.headers
    current = await get(caller, outcome_url(service.id), "3")
    assert current.status_code == 200 and "deprecation" not in current.headers


async def test_bad_requests(caller: Caller) -> None:
    assert_error(
        await get(caller, f"{BASE}/requests/abc"),
        400,
        "client.validation",
        "method.argument.type.mismatch",
    )
    assert_error(await caller.http.get(outcome_url(1)), 401, "client.access", "unauthorized")
    broken = await caller.http.post(
        REQUEST, content=b"{", headers={**caller.headers("7"), "content-type": "application/json"}
    )
    assert_error(broken, 400, "client.validation", "http.message.not.readable")
    text_body = await caller.http.post(
        ABORT, content=b"x", headers={**caller.headers("7"), "content-type": "text/plain"}
    )
    assert_error(text_body, 415, "client.validation", "media.type.not.supported")
    missing = await post(caller, ABORT, {})
    sub = assert_error(missing, 422, "client.validation", "method.argument.not.valid")[
        "apiSubErrors"
    ]
    assert sub == [
        {
            "code": "constraints.not.null",
            "message": "must not be null",
            "object": "connectAbortServiceCancellationRequestCommand",
            "field": "serviceId",
            "rejectedValue": None,
        }
    ]


async def test_concurrent_requests_yield_one_201(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    responses = await asyncio.gather(*(request(caller, service.id, in_days(8)) for _ in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 9
