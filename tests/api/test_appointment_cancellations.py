"""The appointment-cancellation seed, example by example, over HTTP against PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from cancelgate.appointments.models import Appointment
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn.sim_models import SimNbnCancellation
from cancelgate.webhooks.models import Event
from tests.api.checks import INSTANT, assert_error, assert_security_headers, poll
from tests.api.conftest import Caller
from tests.support import REQUEST, REQUESTS, location_id


async def post_request(caller: Caller, appointment_id: object, **headers: str) -> httpx.Response:
    return await caller.http.post(
        REQUEST, json={"appointmentId": appointment_id}, headers=caller.headers(**headers)
    )


async def test_successful_request_then_outcome(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    before = datetime.now(UTC).replace(microsecond=0)
    response = await post_request(caller, appointment.id)
    assert response.status_code == 201
    assert response.content == b""
    assert_security_headers(response)
    location = response.headers["location"]
    assert re.fullmatch(rf"{REQUESTS}/\d+", location)
    outcome = await poll(caller, location)
    assert outcome.status_code == 200
    assert outcome.headers["content-type"] == "application/json"
    assert_security_headers(outcome)
    body = outcome.json()
    assert list(body) == ["id", "appointmentId", "nbnAppointmentId", "cancelledOn", "requestedOn"]
    assert body["id"] == location_id(location)
    assert body["appointmentId"] == appointment.id
    assert body["nbnAppointmentId"] == appointment.nbn_appointment_id
    assert INSTANT.match(body["cancelledOn"]) and INSTANT.match(body["requestedOn"])
    requested = datetime.fromisoformat(body["requestedOn"].replace("Z", "+00:00"))
    assert before <= requested <= datetime.now(UTC)
    assert body["cancelledOn"] >= body["requestedOn"]


async def test_completion_cancels_appointment_and_records_event(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    response = await post_request(caller, appointment.id)
    assert (await poll(caller, response.headers["location"])).status_code == 200
    async with caller.db() as session:
        stored = await session.get(Appointment, appointment.id)
        # Subject ids of other kinds (subscriptions, services) can be the same number.
        mine = select(Event).where(
            Event.subject_id == appointment.id, Event.tenant_id == caller.tenant_id
        )
        events = (await session.execute(mine)).scalars().all()
        nbn_calls = (
            (
                await session.execute(
                    select(SimNbnCancellation).where(
                        SimNbnCancellation.nbn_appointment_id == appointment.nbn_appointment_id
                    )
                )
            )
            .scalars()
            .all()
        )
    assert stored is not None and stored.status == "cancelled" and stored.cancelled_on is not None
    assert [e.type for e in events] == ["appointment.cancelled"]
    payload = events[0].payload
    assert payload["id"] == appointment.id
    assert payload["status"] == "cancelled"
    assert payload["nbnAppointmentId"] == appointment.nbn_appointment_id
    assert payload["serviceId"] == appointment.service_id
    assert set(payload) == {
        "orderId", "id", "nbnAppointmentId", "status", "startTime", "endTime", "slotType",
        "timezoneOffset", "priorityAssist", "eSla", "demandType", "contact", "customerRef",
        "cancelledOn", "serviceId",
    }  # fmt: skip
    assert [c.outcome for c in nbn_calls] == ["accepted"]


async def test_slow_processing_answers_202_with_retry_after(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    location = (await post_request(caller, appointment.id)).headers["location"]
    first = await caller.http.get(location, headers=caller.headers())
    assert first.status_code == 202
    assert first.content == b""
    # Submitted a moment ago: the outcome is likely within a second.
    assert first.headers["retry-after"] == "1"
    assert "preference-applied" not in first.headers
    assert_security_headers(first)
    assert (await poll(caller, location)).status_code == 200


async def test_appointment_not_booked(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.COMPLETE)
    body = assert_error(
        await post_request(caller, appointment.id), 422, "client.validation", "validation",
        "Validation error",
    )  # fmt: skip
    assert body["apiSubErrors"] == [
        {
            "code": "constraints.appointment.not.booked",
            "message": f"Appointment with id {appointment.id} cannot be cancelled as it is "
            "not booked",
            "object": "Appointment",
            "field": "status",
            "rejectedValue": "complete",
        }
    ]


async def test_cancellation_already_in_progress(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.CANCELLATION_IN_PROGRESS)
    body = assert_error(
        await post_request(caller, appointment.id), 422, "client.validation", "validation"
    )
    assert body["apiSubErrors"] == [
        {
            "code": "constraints.appointment-cancellation.in.progress",
            "message": f"Appointment with id {appointment.id} already has a cancellation "
            "in progress",
            "object": "AppointmentCancellation",
            "field": "status",
            "rejectedValue": "IN_PROGRESS",
        }
    ]


async def test_not_cancellable_answers_from_the_nbn(caller: Caller) -> None:
    expected = {
        scenarios.PENDING_CANCELLATION: "Appointment is already pending cancellation.",
        scenarios.PAST_PONR: "Appointment is past point of no return.",
        scenarios.INVALID_STATE: "Appointment not in a valid state to cancel.",
    }
    for scenario, message in expected.items():
        appointment = await caller.appointment(scenario)
        body = assert_error(
            await post_request(caller, appointment.id), 422, "client.validation", "validation"
        )
        assert body["apiSubErrors"] == [
            {
                "code": "constraints.appointment.not.cancellable",
                "message": message,
                "object": "Appointment",
                "field": "nbnInternalAppointmentId",
                "rejectedValue": str(appointment.nbn_internal_appointment_id),
            }
        ], scenario


async def test_upstream_unavailable_is_502(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.UPSTREAM_UNAVAILABLE)
    body = assert_error(
        await post_request(caller, appointment.id), 502, "remote.call", "remote.call.error",
        "There was an unexpected error with one or more of the upstream services",
    )  # fmt: skip
    assert body["apiSubErrors"] == []


async def test_refused_while_processing_is_422_failed(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.FAILS_IN_PROCESSING)
    response = await post_request(caller, appointment.id)
    assert response.status_code == 201
    body = assert_error(
        await poll(caller, response.headers["location"]), 422, "client.validation", "validation"
    )
    nbn_id = appointment.nbn_appointment_id
    text = (
        f"InvalidAppointmentException: Appointment ID : {nbn_id} "
        "is past the cancellation Point of No Return (cPoNR)."
    )
    assert body["apiSubErrors"] == [
        {
            "code": "constraints.appointment-cancellation.failed",
            "message": f'{text} "standard_description":"{text}',
            "object": "AppointmentCancellation",
            "field": "status",
            "rejectedValue": "FAILED",
        }
    ]
    async with caller.db() as session:
        stored = await session.get(Appointment, appointment.id)
    assert stored is not None and stored.status == "booked"


async def test_another_tenants_objects_are_404(caller: Caller, other_caller: Caller) -> None:
    theirs = await other_caller.appointment(scenarios.BOOKED)
    assert_error(
        await post_request(caller, theirs.id), 404, "business.rule", "resource.not.found",
        f"Resource with id {theirs.id} not found",
    )  # fmt: skip
    location = (await post_request(other_caller, theirs.id)).headers["location"]
    request_id = location_id(location)
    mine = await caller.http.get(location, headers=caller.headers())
    assert_error(
        mine, 404, "business.rule", "resource.not.found", f"Resource with id {request_id} not found"
    )
    missing = await caller.http.get(f"{REQUESTS}/999999999", headers=caller.headers())
    assert missing.json()["message"] == "Resource with id 999999999 not found"
    assert_error(await post_request(caller, 999999999), 404, "business.rule", "resource.not.found")


async def test_non_integer_request_id_is_400(caller: Caller) -> None:
    response = await caller.http.get(f"{REQUESTS}/AAA", headers=caller.headers())
    body = assert_error(
        response, 400, "client.validation", "method.argument.type.mismatch",
        "Failed to convert value of type 'java.lang.String' to required type 'java.lang.Integer'; "
        'nested exception is java.lang.NumberFormatException: For input string: "AAA"',
    )  # fmt: skip
    assert body["apiSubErrors"] == []


async def test_concurrent_requests_for_one_appointment_yield_one_201(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    responses = await asyncio.gather(*(post_request(caller, appointment.id) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * 49
    for response in responses:
        if response.status_code == 422:
            codes = [e["code"] for e in response.json()["apiSubErrors"]]
            assert codes == ["constraints.appointment-cancellation.in.progress"]


async def test_a_failed_request_can_be_followed_by_a_new_one(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.FAILS_IN_PROCESSING)
    first = await post_request(caller, appointment.id)
    assert (await poll(caller, first.headers["location"])).status_code == 422
    second = await post_request(caller, appointment.id)
    assert second.status_code == 201
    assert second.headers["location"] != first.headers["location"]
