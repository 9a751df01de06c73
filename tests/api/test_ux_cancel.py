"""The UX API seed (TMF646 PATCH cancel appointment), over HTTP against PostgreSQL."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cancelgate.upstream.csg import scenarios as csg
from cancelgate.ux.models import UxAppointment
from cancelgate.webhooks.models import Event
from tests.api.checks import assert_allow_is_true
from tests.api.conftest import Channel
from tests.support import BAD_REQUEST, INSTALLATION_BODY, MALFORMED, TECHNICAL_BODY


def assert_ux_error(response: httpx.Response, status: int, message: str, description: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "errors": [{"code": status, "message": message, "description": description}]
    }


def assert_bad_field(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert (error["code"], error["message"]) == (400, BAD_REQUEST)
    assert f"'{field}'" in error["description"], error["description"]


async def test_installation_example_cancels_in_csg_and_records_the_event(channel: Channel) -> None:
    appointment = await channel.appointment(csg.INSTALLATION)
    correlation = "8417a2ba-19ae-4523-b63b-d99fcab9b5d5"
    response = await channel.patch(
        "PR", appointment.appointment_id, INSTALLATION_BODY, **{"X-Correlation-ID": correlation}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"id": appointment.appointment_id, "status": "cancelled"}
    assert response.headers["x-correlation-id"] == correlation
    sim = await channel.sim(appointment)
    assert (sim.status, sim.calls, sim.last_correlation_id) == ("cancelled", 1, correlation)
    async with channel.db() as session:
        stored = await session.get(UxAppointment, appointment.id)
        # UX events have no tenant; Connect appointments can have the same id.
        ux_events = select(Event).where(
            Event.subject_id == appointment.id, Event.tenant_id.is_(None)
        )
        events = (await session.execute(ux_events)).scalars().all()
    assert stored is not None and stored.status == "cancelled"
    assert stored.cancellation_reason == "CR" and stored.cancelled_at is not None
    [event] = [e for e in events if e.type == "ux.appointment.state-change"]
    assert event.tenant_id is None
    assert event.payload["eventType"] == "AppointmentStateChangeEvent"
    assert event.payload["correlationId"] == correlation
    assert event.payload["event"]["appointment"]["id"] == appointment.appointment_id


async def test_technical_example(channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    response = await channel.patch("PR", appointment.appointment_id, TECHNICAL_BODY)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": appointment.appointment_id, "status": "cancelled"}


async def test_patch_is_idempotent(channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    first = await channel.patch("PR", appointment.appointment_id, TECHNICAL_BODY)
    second = await channel.patch("PR", appointment.appointment_id, TECHNICAL_BODY)
    assert (
        first.json() == second.json() == {"id": appointment.appointment_id, "status": "cancelled"}
    )
    already = await channel.appointment(csg.ALREADY_CANCELLED)
    response = await channel.patch("PR", already.appointment_id, INSTALLATION_BODY)
    assert response.status_code == 200
    assert (await channel.sim(already)).calls == 0


async def test_completed_is_400_saying_why(channel: Channel) -> None:
    appointment = await channel.appointment(csg.COMPLETED)
    response = await channel.patch("PR", appointment.appointment_id, INSTALLATION_BODY)
    assert_ux_error(
        response,
        400,
        BAD_REQUEST,
        f"Appointment {appointment.appointment_id} is completed and cannot be cancelled.",
    )


async def test_csg_refusal_is_400_with_its_reason(channel: Channel) -> None:
    appointment = await channel.appointment(csg.CSG_REFUSES)
    response = await channel.patch("PR", appointment.appointment_id, INSTALLATION_BODY)
    assert response.status_code == 400
    assert "technician has already been dispatched" in response.json()["errors"][0]["description"]


@pytest.mark.parametrize("scenario", [csg.CSG_UNAVAILABLE, csg.CSG_SLOW])
async def test_csg_failure_or_timeout_is_500_and_changes_nothing(
    channel: Channel, scenario: str
) -> None:
    appointment = await channel.appointment(scenario)
    correlation = str(uuid.uuid4())
    response = await channel.patch(
        "PR", appointment.appointment_id, INSTALLATION_BODY, **{"X-Correlation-ID": correlation}
    )
    assert_ux_error(
        response, 500, "Internal Server Error", "The request failed due to an internal error."
    )
    assert response.headers["x-correlation-id"] == correlation
    async with channel.db() as session:
        stored = await session.get(UxAppointment, appointment.id)
    assert stored is not None and stored.status == "confirmed"


UNAUTHORIZED = (
    "The user could not be authenticated for this request.",
    "The request has not been applied because it lacks valid authentication credentials "
    "for the target resource.",
)


async def test_credentials(channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    path = f"/ecom-ux/v1/PR/appointment/{appointment.appointment_id}"
    good = channel.headers()
    cases = [
        {k: v for k, v in good.items() if k != "client_id"},
        {k: v for k, v in good.items() if k != "client_secret"},
        {**good, "client_secret": "abcd"},
        {**good, "client_id": "1234"},
        {**good, "client_secret": channel.client_secret + "x"},
        {**good, "client_id": "ch_doesnotexist"},
    ]
    for headers in cases:
        response = await channel.http.patch(path, json=TECHNICAL_BODY, headers=headers)
        assert_ux_error(response, 401, *UNAUTHORIZED)
    other_unit = await channel.appointment(csg.TECHNICAL, unit="TT")
    response = await channel.patch("TT", other_unit.appointment_id, TECHNICAL_BODY)
    assert_ux_error(response, 401, *UNAUTHORIZED)
    assert (await channel.sim(appointment)).calls == 0


async def test_correlation_id_is_required(channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    headers = {k: v for k, v in channel.headers().items() if k != "X-Correlation-ID"}
    response = await channel.http.patch(
        f"/ecom-ux/v1/PR/appointment/{appointment.appointment_id}",
        json=TECHNICAL_BODY,
        headers=headers,
    )
    assert_bad_field(response, "X-Correlation-ID")
    assert "x-correlation-id" not in response.headers


async def test_malformed_json_is_the_seed_400(channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    response = await channel.http.patch(
        f"/ecom-ux/v1/PR/appointment/{appointment.appointment_id}",
        content=b'{"status": "cancelled",',
        headers={**channel.headers(), "Content-Type": "application/json"},
    )
    assert_ux_error(response, 400, BAD_REQUEST, MALFORMED)


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _with(body: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


B = INSTALLATION_BODY
ENTITIES = INSTALLATION_BODY["relatedEntity"]
INVALID_BODIES = [
    ("status", _with(B, ["status"], "confirmed")),
    ("status", _without(B, "status")),
    ("relatedEntity", _without(B, "relatedEntity")),
    ("relatedEntity", _with(B, ["relatedEntity"], [])),
    ("relatedEntity[0].id", _with(B, ["relatedEntity", 0, "id"], "XX")),
    ("relatedEntity[0].role", _with(B, ["relatedEntity", 0, "role"], None)),
    ("relatedEntity[0].@referredType", _with(B, ["relatedEntity", 0, "@referredType"], "")),
    ("relatedEntity", _with(B, ["relatedEntity"], ENTITIES[1:])),
    ("relatedEntity", _with(B, ["relatedEntity"], ENTITIES[:1])),
    ("validFor", _without(B, "validFor")),
    ("validFor.endDateTime", _with(B, ["validFor", "endDateTime"], "2026-03-05 12:00")),
    ("validFor.endDateTime", _with(B, ["validFor", "endDateTime"], "2026-03-05T12:00:00")),
    ("characteristics", _without(B, "characteristics")),
    ("characteristics.orderClass", _with(B, ["characteristics", 0, "value"], "X")),
]


@pytest.mark.parametrize(("field", "body"), INVALID_BODIES, ids=[f for f, _ in INVALID_BODIES])
async def test_invalid_body_names_the_field(
    channel: Channel, field: str, body: dict[str, Any]
) -> None:
    appointment = await channel.appointment(csg.INSTALLATION)
    assert_bad_field(await channel.patch("PR", appointment.appointment_id, body), field)
    assert (await channel.sim(appointment)).calls == 0


async def test_order_class_and_account_must_match_the_appointment(channel: Channel) -> None:
    appointment = await channel.appointment(csg.INSTALLATION)
    response = await channel.patch("PR", appointment.appointment_id, TECHNICAL_BODY)
    assert_bad_field(response, "characteristics.orderClass")
    wrong_account = _with(INSTALLATION_BODY, ["relatedEntity", 1, "id"], "1111222233334444")
    assert_bad_field(
        await channel.patch("PR", appointment.appointment_id, wrong_account), "relatedEntity"
    )


async def test_business_unit(channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    assert_bad_field(
        await channel.patch("PRX", appointment.appointment_id, TECHNICAL_BODY), "businessId"
    )
    response = await channel.patch("US", appointment.appointment_id, TECHNICAL_BODY)
    assert_ux_error(
        response, 501, "Not implemented",
        "Operation PATCH /appointment/{id} for Business Id: US not implemented",
    )  # fmt: skip


NOT_FOUND = (
    "The server could not find the requested resource.",
    "The requested operation failed because a resource associated with the request "
    "could not be found.",
)


async def test_unknown_appointment_is_404(channel: Channel) -> None:
    assert_ux_error(await channel.patch("PR", "1200999999999999", TECHNICAL_BODY), 404, *NOT_FOUND)
    in_pr = await channel.appointment(csg.TECHNICAL)
    assert_ux_error(
        await channel.patch("JM", in_pr.appointment_id, TECHNICAL_BODY), 404, *NOT_FOUND
    )
    response = await channel.http.get("/ecom-ux/v1/PR/nothing-here", headers=channel.headers())
    assert_ux_error(response, 404, *NOT_FOUND)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
async def test_other_methods_are_405(channel: Channel, method: str) -> None:
    response = await channel.http.request(
        method, "/ecom-ux/v1/PR/appointment/1200096041981014", headers=channel.headers()
    )
    assert_ux_error(
        response, 405, "APIKIT:METHOD_NOT_ALLOWED",
        f"HTTP Method {method} not allowed for : /{{businessId}}/appointment/{{id}}",
    )  # fmt: skip


async def test_405_allow_is_true(channel: Channel) -> None:
    """The APIKit body stays; `Allow` names GET (501) and PATCH, the methods that are not 405."""
    path = "/ecom-ux/v1/PR/appointment/1200096041981014"
    response = await channel.http.options(path, headers=channel.headers())
    assert_ux_error(
        response, 405, "APIKIT:METHOD_NOT_ALLOWED",
        "HTTP Method OPTIONS not allowed for : /{businessId}/appointment/{id}",
    )  # fmt: skip
    assert await assert_allow_is_true(channel.http, path, channel.headers()) == "GET, PATCH"


async def test_get_is_501(channel: Channel) -> None:
    response = await channel.http.get(
        "/ecom-ux/v1/PR/appointment/1200096041981014", headers=channel.headers()
    )
    assert_ux_error(
        response, 501, "Not implemented",
        "Operation GET /appointment/{id} for Business Id: PR not implemented",
    )  # fmt: skip
