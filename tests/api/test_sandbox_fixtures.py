"""Fixtures on demand (the sandbox): the scenario catalogue; appointments, services and UX
appointments made over HTTP that then behave as their scenario when cancelled, as often as a
test suite likes; 1000 at once in a few multi-row statements; the documented errors of each
API; another tenant's fixtures invisible; and the 404 of an unknown path where the sandbox is
off."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import func, select, text

from cancelgate.app import create_app
from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.auth.clients import client_by_client_id, create_client
from cancelgate.auth.models import Tenant
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.seed import seed_demo
from cancelgate.keys import InstanceKeys, instance_keys_in
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.services.service import GAVE_UP
from cancelgate.settings import Settings
from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.csg.sim_models import SimCsgAppointment
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.upstream.nbn.sim_models import SimNbnAppointment, SimNbnService
from cancelgate.ux.clients import create_channel_client
from cancelgate.ux.models import UxAppointment
from tests.api.checks import assert_error, assert_security_headers, poll
from tests.api.conftest import Caller, Channel, Sessions, new_channel
from tests.api.test_ux_cancel import NOT_FOUND, UNAUTHORIZED, assert_ux_error
from tests.support import (
    BAD_REQUEST,
    INSTALLATION_BODY,
    MALFORMED,
    REQUEST,
    SERVICE_REQUEST,
    SERVICE_REQUESTS,
    TECHNICAL_BODY,
    in_days,
    migrated_database,
    sydney_today,
)

SANDBOX = "/api/connect/sandbox"
CATALOGUE = f"{SANDBOX}/scenarios"
APPOINTMENTS = f"{SANDBOX}/appointments"
SERVICES = f"{SANDBOX}/services"
SUBMIT_NOW = f"{SANDBOX}/service-cancellations/requests/{{}}/submit"


def ux_fixtures(unit: str) -> str:
    return f"/ecom-ux/v1/{unit}/sandbox/appointments"


async def make(caller: Caller, path: str, body: object) -> list[dict[str, Any]]:
    """The fixtures a 201 answered (each checked for its shape)."""
    response = await caller.http.post(path, json=body, headers=caller.headers())
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    assert_security_headers(response)
    made: list[dict[str, Any]] = response.json()
    keys = (
        ["appointmentId", "nbnAppointmentId"]
        if path == APPOINTMENTS
        else ["serviceId", "nbnServiceId"]
    )
    for fixture in made:
        assert list(fixture) == [*keys, "scenario"], fixture
    return made


async def make_ux(channel: Channel, unit: str, body: object) -> list[dict[str, Any]]:
    response = await channel.http.post(ux_fixtures(unit), json=body, headers=channel.headers())
    assert response.status_code == 201, response.text
    made: list[dict[str, Any]] = response.json()
    for fixture in made:
        assert list(fixture) == ["id", "businessId", "orderClass", "billingAccount", "scenario"]
    return made


async def cancel(caller: Caller, appointment_id: int) -> httpx.Response:
    return await caller.http.post(
        REQUEST, json={"appointmentId": appointment_id}, headers=caller.headers()
    )


async def request_service(caller: Caller, service_id: int, day: str) -> httpx.Response:
    return await caller.http.post(
        SERVICE_REQUEST,
        json={"serviceId": service_id, "cancellationDate": day},
        headers=caller.headers("7"),
    )


def assert_refused(response: httpx.Response, code: str, message: str | None = None) -> None:
    """422 `validation` whose one sub-error is this rule."""
    body = assert_error(response, 422, "client.validation", "validation")
    [sub_error] = body["apiSubErrors"]
    assert sub_error["code"] == code, body
    if message is not None:
        assert sub_error["message"] == message, body


# --- the catalogue ------------------------------------------------------------------------------


async def test_the_catalogue_names_every_scenario_with_what_it_does(caller: Caller) -> None:
    response = await caller.http.get(CATALOGUE, headers=caller.headers())
    assert response.status_code == 200, response.text
    assert_security_headers(response)
    body = response.json()
    assert list(body) == ["appointments", "services", "ux"]
    for kind, module in (("appointments", scenarios), ("services", sc), ("ux", csg)):
        expected = [
            {"scenario": name, "description": about[0], "outcome": about[1]}
            for name, about in module.ABOUT.items()
        ]
        assert body[kind] == expected
        assert [item["scenario"] for item in body[kind]] == list(module.SCENARIOS)
    # A Connect route like the others: the bearer token, then X-API-VERSION.
    anonymous = await caller.http.get(CATALOGUE, headers={"X-API-VERSION": "8"})
    assert_error(anonymous, 401, "client.access", "unauthorized")
    unversioned = await caller.http.get(CATALOGUE, headers=caller.headers(version=None))
    assert unversioned.status_code == 400, unversioned.text


# --- appointments -------------------------------------------------------------------------------


async def test_booked_fixtures_cancel_every_time_one_is_made(caller: Caller) -> None:
    """The repeatable test: each run makes its own booked appointments and cancels them."""
    for _ in range(2):
        made = await make(caller, APPOINTMENTS, {"scenario": "booked", "count": 2})
        assert [m["scenario"] for m in made] == ["booked", "booked"]
        assert len({m["appointmentId"] for m in made}) == 2
        for fixture in made:
            assert re.fullmatch(r"APT\d{12}", fixture["nbnAppointmentId"]), fixture
            accepted = await cancel(caller, fixture["appointmentId"])
            assert accepted.status_code == 201, accepted.text
            outcome = await poll(caller, accepted.headers["location"])
            assert outcome.status_code == 200, outcome.text
            assert outcome.json()["appointmentId"] == fixture["appointmentId"]
            assert outcome.json()["nbnAppointmentId"] == fixture["nbnAppointmentId"]
    # Without a count, one.
    [single] = await make(caller, APPOINTMENTS, {"scenario": "booked"})
    async with caller.db() as session:
        stored = await session.get(Appointment, single["appointmentId"])
        twin = await session.get(SimNbnAppointment, single["nbnAppointmentId"])
    assert stored is not None and stored.tenant_id == caller.tenant_id
    assert stored.status == "booked" and stored.nbn_appointment_id == single["nbnAppointmentId"]
    assert twin is not None and twin.scenario == "booked"
    assert twin.nbn_internal_id == stored.nbn_internal_appointment_id


NOT_CANCELLABLE = "constraints.appointment.not.cancellable"


@pytest.mark.parametrize(
    ("scenario", "code", "message"),
    [
        ("complete", "constraints.appointment.not.booked", None),
        ("cancellation-in-progress", "constraints.appointment-cancellation.in.progress", None),
        ("pending-cancellation", NOT_CANCELLABLE, "Appointment is already pending cancellation."),
        ("past-ponr", NOT_CANCELLABLE, "Appointment is past point of no return."),
        ("invalid-state", NOT_CANCELLABLE, "Appointment not in a valid state to cancel."),
    ],
)
async def test_refused_scenarios_are_refused(
    caller: Caller, scenario: str, code: str, message: str | None
) -> None:
    made = await make(caller, APPOINTMENTS, {"scenario": scenario, "count": 2})
    for fixture in made:
        assert fixture["scenario"] == scenario
        assert_refused(await cancel(caller, fixture["appointmentId"]), code, message)


async def test_fixtures_that_fail_later_or_upstream_do(caller: Caller) -> None:
    [down] = await make(caller, APPOINTMENTS, {"scenario": "upstream-unavailable"})
    assert_error(
        await cancel(caller, down["appointmentId"]), 502, "remote.call", "remote.call.error"
    )
    [failing] = await make(caller, APPOINTMENTS, {"scenario": "fails-in-processing"})
    accepted = await cancel(caller, failing["appointmentId"])
    assert accepted.status_code == 201, accepted.text
    outcome = await poll(caller, accepted.headers["location"])
    assert_refused(outcome, "constraints.appointment-cancellation.failed")
    [slow] = await make(caller, APPOINTMENTS, {"scenario": "booked-slow"})
    accepted = await cancel(caller, slow["appointmentId"])
    first = await caller.http.get(accepted.headers["location"], headers=caller.headers())
    assert first.status_code == 202, first.text  # the nbn takes its time (1.5 s in tests)
    assert (await poll(caller, accepted.headers["location"])).status_code == 200


async def test_a_thousand_of_each_in_one_request(caller: Caller, channel: Channel) -> None:
    appointments = await make(caller, APPOINTMENTS, {"scenario": "booked", "count": 1000})
    services = await make(caller, SERVICES, {"scenario": "cancellation-requested", "count": 1000})
    ux = await make_ux(channel, "PR", {"scenario": "installation", "count": 1000})
    ids = [a["appointmentId"] for a in appointments]
    service_ids = [s["serviceId"] for s in services]
    assert len(set(ids)) == len(set(service_ids)) == len({u["id"] for u in ux}) == 1000
    assert len({a["nbnAppointmentId"] for a in appointments}) == 1000
    async with caller.db() as session:
        ours = select(func.count()).where(
            Appointment.id.in_(ids), Appointment.tenant_id == caller.tenant_id
        )
        twins = select(func.count()).where(
            SimNbnAppointment.nbn_appointment_id.in_([a["nbnAppointmentId"] for a in appointments])
        )
        jobs = text(
            "SELECT count(DISTINCT c.submission_job_id) FROM service_cancellations c "
            "JOIN procrastinate_jobs j ON j.id = c.submission_job_id "
            "WHERE c.service_id = ANY(:ids) AND c.status = 'REQUESTED' AND c.submission = 1 "
            "AND j.status = 'todo' AND (j.args->>'cancellation_id')::bigint = c.id "
            "AND (j.args->>'submission')::int = 1"
        )
        sims = select(func.count()).where(
            SimCsgAppointment.appointment_id.in_([u["id"] for u in ux]),
            SimCsgAppointment.business_id == "PR",
        )
        counts = [(await session.execute(query)).scalar_one() for query in (ours, twins, sims)]
        scheduled = (await session.execute(jobs, {"ids": service_ids})).scalar_one()
    assert (counts, scheduled) == ([1000, 1000, 1000], 1000)
    # The last of each still plays its scenario.
    accepted = await cancel(caller, ids[-1])
    assert (await poll(caller, accepted.headers["location"])).status_code == 200
    resource = await caller.http.get(
        f"{SERVICE_REQUESTS}/{service_ids[-1]}", headers=caller.headers("7")
    )
    assert resource.json()["status"] == "REQUESTED", resource.text
    patched = await channel.patch("PR", ux[-1]["id"], INSTALLATION_BODY)
    assert patched.status_code == 200, patched.text


# --- services -----------------------------------------------------------------------------------


async def test_active_fixtures_cancel_every_time_one_is_made(caller: Caller) -> None:
    made = await make(caller, SERVICES, {"scenario": "active", "count": 2})
    assert len({m["serviceId"] for m in made}) == 2
    for fixture in made:
        assert re.fullmatch(r"AVC\d{12}", fixture["nbnServiceId"]), fixture
        accepted = await request_service(caller, fixture["serviceId"], sydney_today().isoformat())
        assert accepted.status_code == 201, accepted.text
        outcome = await poll(caller, accepted.headers["location"], version="7")
        assert outcome.status_code == 200, outcome.text
        assert (outcome.json()["status"], outcome.json()["cancelled"]) == ("COMPLETED", True)


async def test_service_fixtures_start_as_their_scenario(caller: Caller) -> None:
    [requested] = await make(caller, SERVICES, {"scenario": "cancellation-requested"})
    resource = await caller.http.get(
        f"{SERVICE_REQUESTS}/{requested['serviceId']}", headers=caller.headers("7")
    )
    assert resource.status_code == 200, resource.text
    body = resource.json()
    assert (body["status"], body["requestDate"]) == ("REQUESTED", in_days(14))
    assert body["requestedById"] == caller.client_pk and body["canAbortCancellation"] is True
    submitted = await caller.http.post(
        SUBMIT_NOW.format(requested["serviceId"]), headers=caller.headers("7")
    )
    assert submitted.status_code == 204, submitted.text
    done = await poll(caller, submitted.headers["location"], version="7")
    assert done.json()["status"] == "COMPLETED", done.text

    [in_error] = await make(caller, SERVICES, {"scenario": "cancellation-in-error"})
    resource = await caller.http.get(
        f"{SERVICE_REQUESTS}/{in_error['serviceId']}", headers=caller.headers("7")
    )
    assert (resource.json()["status"], resource.json()["errorDetail"]) == ("IN_ERROR", GAVE_UP)

    [in_progress] = await make(caller, SERVICES, {"scenario": "cancellation-in-progress"})
    held = await caller.http.get(
        f"{SERVICE_REQUESTS}/{in_progress['serviceId']}", headers=caller.headers("7")
    )
    assert held.status_code == 202, held.text

    for scenario in ("cancelled", "not-eligible"):
        [fixture] = await make(caller, SERVICES, {"scenario": scenario})
        refused = await request_service(caller, fixture["serviceId"], in_days(3))
        assert_refused(refused, "constraints.service.not.eligible.for.cancellation")
        async with caller.db() as session:
            stored = await session.get(Service, fixture["serviceId"])
            twin = await session.get(SimNbnService, fixture["nbnServiceId"])
        assert stored is not None and stored.tenant_id == caller.tenant_id
        assert stored.eligible_for_cancellation is (scenario != "not-eligible")
        assert (stored.status == "cancelled") is (scenario == "cancelled")
        assert twin is not None and twin.scenario == scenario

    [rejected] = await make(caller, SERVICES, {"scenario": "rejected-by-nbn"})
    accepted = await request_service(caller, rejected["serviceId"], sydney_today().isoformat())
    outcome = await poll(caller, accepted.headers["location"], version="7")
    assert_refused(outcome, "constraints.service-cancellation.rejected")


# --- UX appointments ----------------------------------------------------------------------------


async def test_ux_fixtures_behave_as_their_scenario(channel: Channel) -> None:
    correlation = str(uuid.uuid4())
    response = await channel.http.post(
        ux_fixtures("pr"),
        json={"scenario": "installation", "count": 2},
        headers=channel.headers(**{"X-Correlation-ID": correlation}),
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-correlation-id"] == correlation
    installations = response.json()
    assert len({f["id"] for f in installations}) == 2
    for fixture in installations:
        assert fixture["businessId"] == "PR" and re.fullmatch(r"\d{16}", fixture["id"])
        assert (fixture["orderClass"], fixture["billingAccount"]) == ("S", csg.SEED_BILLING_ACCOUNT)
        patched = await channel.patch("PR", fixture["id"], INSTALLATION_BODY)
        assert patched.status_code == 200, patched.text
        assert patched.json() == {"id": fixture["id"], "status": "cancelled"}
    [technical] = await make_ux(channel, "JM", {"scenario": "technical"})
    assert (technical["orderClass"], technical["billingAccount"]) == ("T", None)
    assert (await channel.patch("JM", technical["id"], TECHNICAL_BODY)).status_code == 200
    [completed] = await make_ux(channel, "PR", {"scenario": "completed"})
    refused = await channel.patch("PR", completed["id"], INSTALLATION_BODY)
    description = f"Appointment {completed['id']} is completed and cannot be cancelled."
    assert_ux_error(refused, 400, BAD_REQUEST, description)
    [already] = await make_ux(channel, "PR", {"scenario": "already-cancelled"})
    assert (await channel.patch("PR", already["id"], INSTALLATION_BODY)).status_code == 200
    async with channel.db() as session:
        row = (
            await session.execute(
                select(UxAppointment).where(UxAppointment.appointment_id == already["id"])
            )
        ).scalar_one()
        sim = await session.get(SimCsgAppointment, ("PR", already["id"]))
    assert row.status == "cancelled" and sim is not None and sim.calls == 0


# --- errors -------------------------------------------------------------------------------------

COMMANDS = {
    APPOINTMENTS: "sandboxAppointmentFixturesCommand",
    SERVICES: "sandboxServiceFixturesCommand",
}
SCENARIO_NAMES = {
    APPOINTMENTS: ", ".join(s for s in scenarios.SCENARIOS if s != "other-tenant"),
    SERVICES: ", ".join(s for s in sc.SCENARIOS if s != "other-tenant"),
}


@pytest.mark.parametrize("path", [APPOINTMENTS, SERVICES])
@pytest.mark.parametrize(
    ("body", "field_name", "code", "message"),
    [
        ({"scenario": "S", "count": 0}, "count", "constraints.range", None),
        ({"scenario": "S", "count": 1001}, "count", "constraints.range", None),
        ({"scenario": "S", "count": "2"}, "count", "constraints.type.mismatch", None),
        ({"scenario": "S", "count": True}, "count", "constraints.type.mismatch", None),
        ({"scenario": "S", "count": None}, "count", "constraints.not.null", None),
        ({"count": 1}, "scenario", "constraints.not.null", "must not be null"),
        ({"scenario": 7}, "scenario", "constraints.type.mismatch", None),
        ({"scenario": "no-such-scenario"}, "scenario", "constraints.sandbox.scenario.unknown", ""),
        ({"scenario": "other-tenant"}, "scenario", "constraints.sandbox.scenario.not.on.demand",
         "is seeded by serve --demo only: fixtures made on demand are the caller's own"),
    ],
)  # fmt: skip
async def test_a_bad_command_is_the_documented_422_and_makes_nothing(
    caller: Caller,
    path: str,
    body: dict[str, Any],
    field_name: str,
    code: str,
    message: str | None,
) -> None:
    valid = "booked" if path == APPOINTMENTS else "active"
    sent = {k: (valid if v == "S" else v) for k, v in body.items()}
    response = await caller.http.post(path, json=sent, headers=caller.headers())
    error = assert_error(
        response, 422, "client.validation", "method.argument.not.valid", "Validation error"
    )
    [sub_error] = error["apiSubErrors"]
    assert (sub_error["code"], sub_error["field"]) == (code, field_name), error
    assert sub_error["object"] == COMMANDS[path]
    assert sub_error["rejectedValue"] == sent.get(field_name)
    if code == "constraints.sandbox.scenario.unknown":
        message = f"must be one of: {SCENARIO_NAMES[path]}"
    if message is not None:
        assert sub_error["message"] == message
    await assert_nothing_made(caller)


async def test_one_kinds_scenario_is_unknown_to_the_other(caller: Caller) -> None:
    for path, scenario in ((SERVICES, "booked"), (APPOINTMENTS, "active")):
        response = await caller.http.post(
            path, json={"scenario": scenario}, headers=caller.headers()
        )
        error = assert_error(response, 422, "client.validation", "method.argument.not.valid")
        assert error["apiSubErrors"][0]["code"] == "constraints.sandbox.scenario.unknown"
    await assert_nothing_made(caller)


@pytest.mark.parametrize("path", [APPOINTMENTS, SERVICES])
async def test_a_body_that_is_not_a_command_is_400_or_415(caller: Caller, path: str) -> None:
    json_headers = caller.headers(**{"Content-Type": "application/json"})
    for raw in (b'{"scenario": "booked", ', b"[]", b'"booked"'):
        response = await caller.http.post(path, content=raw, headers=json_headers)
        error = assert_error(
            response,
            400,
            "client.validation",
            "http.message.not.readable",
            "Malformed JSON request",
        )
        assert error["apiSubErrors"][0]["code"] == "malformed.json.request"
    text_plain = caller.headers(**{"Content-Type": "text/plain"})
    response = await caller.http.post(path, content=b'{"scenario": "booked"}', headers=text_plain)
    assert_error(response, 415, "client.validation", "media.type.not.supported")
    anonymous = await caller.http.post(
        path, json={"scenario": "booked"}, headers={"X-API-VERSION": "8"}
    )
    assert_error(anonymous, 401, "client.access", "unauthorized")
    await assert_nothing_made(caller)


async def assert_nothing_made(caller: Caller) -> None:
    """The caller's tenant has no appointments and no services."""
    async with caller.db() as session:
        for model in (Appointment, Service):
            stmt = select(func.count()).where(model.tenant_id == caller.tenant_id)
            assert (await session.execute(stmt)).scalar_one() == 0, model


def invalid(field_name: str, reason: str) -> str:
    return f"Invalid field '{field_name}': {reason}"


UX_NAMES = ", ".join(csg.SCENARIOS)


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ({"scenario": "installation", "count": 0}, invalid("count", "must be from 1 to 1000")),
        ({"scenario": "installation", "count": 1001}, invalid("count", "must be from 1 to 1000")),
        ({"scenario": "installation", "count": "1"}, invalid("count", "must be an integer")),
        ({"scenario": "installation", "count": 1.0}, invalid("count", "must be an integer")),
        ({"count": 1}, invalid("scenario", "is required")),
        ({"scenario": ["installation"]}, invalid("scenario", "must be a string")),
        ({"scenario": "booked"}, invalid("scenario", f"must be one of: {UX_NAMES}")),
        (["installation"], MALFORMED),
    ],
)
async def test_a_bad_ux_command_is_the_documented_400_and_makes_nothing(
    channel: Channel, body: object, description: str
) -> None:
    before = await ux_count(channel.db)
    response = await channel.http.post(ux_fixtures("PR"), json=body, headers=channel.headers())
    assert_ux_error(response, 400, BAD_REQUEST, description)
    assert await ux_count(channel.db) == before


async def test_ux_headers_and_business_units_are_checked_as_the_patch_checks_them(
    channel: Channel,
) -> None:
    before = await ux_count(channel.db)
    body = {"scenario": "installation"}
    path = ux_fixtures("PR")
    malformed = await channel.http.post(
        path,
        content=b'{"scenario": ',
        headers=channel.headers(**{"Content-Type": "application/json"}),
    )
    assert_ux_error(malformed, 400, BAD_REQUEST, MALFORMED)
    wrong_secret = {**channel.headers(), "client_secret": "not-the-secret"}
    assert_ux_error(
        await channel.http.post(path, json=body, headers=wrong_secret), 401, *UNAUTHORIZED
    )
    no_correlation = {k: v for k, v in channel.headers().items() if k != "X-Correlation-ID"}
    response = await channel.http.post(path, json=body, headers=no_correlation)
    assert response.status_code == 400 and "'X-Correlation-ID'" in response.text, response.text
    response = await channel.http.post(ux_fixtures("P1"), json=body, headers=channel.headers())
    assert response.status_code == 400 and "'businessId'" in response.text, response.text
    unserved = await channel.http.post(ux_fixtures("ZZ"), json=body, headers=channel.headers())
    assert unserved.status_code == 501, unserved.text
    # TT is configured, but this channel may use only JM and PR.
    not_given = await channel.http.post(ux_fixtures("TT"), json=body, headers=channel.headers())
    assert_ux_error(not_given, 401, *UNAUTHORIZED)
    other_method = await channel.http.get(path, headers=channel.headers())
    assert other_method.status_code == 405 and other_method.headers["allow"] == "POST"
    assert await ux_count(channel.db) == before


async def ux_count(db: Sessions) -> int:
    async with db() as session:
        return int((await session.execute(select(func.count(UxAppointment.id)))).scalar_one())


# --- tenants ------------------------------------------------------------------------------------


async def test_another_tenant_cannot_see_or_cancel_them(
    caller: Caller, other_caller: Caller, http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> None:
    [appointment] = await make(caller, APPOINTMENTS, {"scenario": "booked"})
    [service] = await make(caller, SERVICES, {"scenario": "cancellation-requested"})
    aid, sid = appointment["appointmentId"], service["serviceId"]
    b = other_caller
    probes = [
        (aid, await cancel(b, aid)),
        (sid, await request_service(b, sid, in_days(3))),
        (sid, await b.http.get(f"/api/connect/services/{sid}", headers=b.headers())),
        (sid, await b.http.get(f"{SERVICE_REQUESTS}/{sid}", headers=b.headers("7"))),
        (sid, await b.http.post(SUBMIT_NOW.format(sid), headers=b.headers("7"))),
    ]
    for named, response in probes:
        assert_error(
            response,
            404,
            "business.rule",
            "resource.not.found",
            f"Resource with id {named} not found",
        )
        assert appointment["nbnAppointmentId"] not in response.text
        assert service["nbnServiceId"] not in response.text
    async with db() as session:
        held = select(func.count()).where(AppointmentCancellation.appointment_id == aid)
        assert (await session.execute(held)).scalar_one() == 0
        [status] = (
            await session.execute(
                select(ServiceCancellation.status).where(ServiceCancellation.service_id == sid)
            )
        ).scalars()
    assert status == "REQUESTED"
    # The owner still can.
    accepted = await cancel(caller, aid)
    assert (await poll(caller, accepted.headers["location"])).status_code == 200
    # A channel client makes and cancels only in the business units it was given.
    pr = await new_channel(http, db, keys, "pr-only", ["PR"])
    jm = await new_channel(http, db, keys, "jm-only", ["JM"])
    refused = await jm.http.post(
        ux_fixtures("PR"), json={"scenario": "installation"}, headers=jm.headers()
    )
    assert_ux_error(refused, 401, *UNAUTHORIZED)
    [made] = await make_ux(pr, "PR", {"scenario": "installation"})
    assert_ux_error(await jm.patch("PR", made["id"], INSTALLATION_BODY), 401, *UNAUTHORIZED)
    assert_ux_error(await jm.patch("JM", made["id"], INSTALLATION_BODY), 404, *NOT_FOUND)


# --- in this process: the sandbox off, and the statements a bulk request sends ------------------


@dataclass
class InProcess:
    """The application in this process on a database of its own, and its callers' headers."""

    http: httpx.AsyncClient
    bearer: dict[str, str]
    channel: dict[str, str]
    tenant_id: int
    db: Sessions


@asynccontextmanager
async def in_process(database_url: str, *, sandbox: bool) -> AsyncIterator[InProcess]:
    """The app (no worker) with the sandbox on or off, a tenant's token and a channel client."""
    settings = Settings(
        database_url=database_url, sandbox=sandbox, in_process_worker=False, log_level="WARNING"
    )
    app = create_app(settings)
    engine = make_engine(database_url, pool_size=2)
    db = make_sessionmaker(engine)
    try:
        async with db() as session:
            keys = await instance_keys_in(session)
            created = await create_client(session, keys.pepper, tenant=f"fx-{uuid.uuid4().hex[:8]}")
            channel = await create_channel_client(
                session, keys.pepper, name="fx", business_units=["PR"]
            )
            await session.commit()
            client = await client_by_client_id(session, created.client_id)
            assert client is not None
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://cancelgate.test"
            ) as http,
        ):
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(created.client_id, created.client_secret),
            )
            assert token.status_code == 200, token.text
            yield InProcess(
                http=http,
                bearer={
                    "Authorization": f"Bearer {token.json()['access_token']}",
                    "X-API-VERSION": "8",
                },
                channel={
                    "client_id": channel.client_id,
                    "client_secret": channel.client_secret,
                    "X-Correlation-ID": str(uuid.uuid4()),
                },
                tenant_id=client.tenant_id,
                db=db,
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def sandbox_off_database(database_url: str) -> Iterator[str]:
    """A database of its own: no process of it ever had the sandbox on."""
    with migrated_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def counted_database(database_url: str) -> Iterator[str]:
    """A database of its own for the in-process app whose statements are counted."""
    with migrated_database(database_url) as url:
        yield url


async def test_with_the_sandbox_off_they_are_unknown_paths(sandbox_off_database: str) -> None:
    async with in_process(sandbox_off_database, sandbox=False) as app:
        for method, path, body in (
            ("GET", CATALOGUE, None),
            ("POST", APPOINTMENTS, {"scenario": "booked"}),
            ("POST", SERVICES, {"scenario": "active"}),
            # Methods no route serves there: a 405 would say the route exists.
            ("DELETE", APPOINTMENTS, None),
            ("POST", CATALOGUE, None),
            ("PUT", "/api/connect/sandbox/clock", None),
        ):
            response = await app.http.request(method, path, json=body, headers=app.bearer)
            assert_error(
                response,
                404,
                "client.validation",
                "no.handler.found",
                f"No endpoint {method} {path}.",
            )
        response = await app.http.post(
            ux_fixtures("PR"), json={"scenario": "installation"}, headers=app.channel
        )
        assert_ux_error(response, 404, *NOT_FOUND)
        # The routes beside them answer as ever.
        health = await app.http.get("/healthz")
        assert health.status_code == 200
        async with app.db() as session:
            for model in (Appointment, Service, UxAppointment):
                count = (
                    await session.execute(select(func.count()).select_from(model))
                ).scalar_one()
                assert count == 0, model


@dataclass
class Sent:
    """The statements sent while counting, by their first words."""

    statements: list[str] = field(default_factory=list)

    def writes(self) -> list[str]:
        return [s for s in self.statements if s.split()[0] in ("INSERT", "UPDATE", "DEFER")]


def first_words(query: Any) -> str:
    sql = query.decode() if isinstance(query, bytes) else str(query)
    if "procrastinate_defer_jobs" in sql:
        return "DEFER jobs"
    words = sql.split("(")[0].split()
    return " ".join(words[: 3 if words[:1] == ["INSERT"] else 2])


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Every statement any psycopg cursor of this process executes while the block runs."""
    sent = Sent()
    execute = psycopg.AsyncCursor.execute

    async def counted(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.statements.append(first_words(query))
        return await execute(self, query, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(psycopg.AsyncCursor, "execute", counted)
        yield sent


async def test_a_thousand_fixtures_are_a_few_statements(
    counted_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not one statement per fixture: each kind is a fixed handful, whatever the count."""
    async with in_process(counted_database, sandbox=True) as app:
        await app.http.get(CATALOGUE, headers=app.bearer)  # the token's check, cached
        cases = [
            (APPOINTMENTS, app.bearer, {"scenario": "cancellation-in-progress", "count": 1000},
             ["INSERT INTO appointments", "INSERT INTO sim_nbn_appointments",
              "INSERT INTO appointment_cancellations"]),
            (SERVICES, app.bearer, {"scenario": "cancellation-requested", "count": 1000},
             ["INSERT INTO services", "INSERT INTO sim_nbn_services",
              "INSERT INTO service_cancellations", "DEFER jobs", "UPDATE service_cancellations"]),
            (ux_fixtures("PR"), app.channel, {"scenario": "csg-refuses", "count": 1000},
             ["INSERT INTO ux_appointments", "INSERT INTO sim_csg_appointments"]),
        ]  # fmt: skip
        for path, headers, body, writes in cases:
            with counting(monkeypatch) as sent:
                response = await app.http.post(path, json=body, headers=headers)
            assert response.status_code == 201, response.text
            assert len(response.json()) == 1000
            assert sent.writes() == writes, sent.statements
            # Reads (the caller, its clock), BEGIN and COMMIT besides.
            assert len(sent.statements) <= len(writes) + 6, sent.statements
            assert sent.statements[-1] == "COMMIT", sent.statements
        async with app.db() as session:
            held = select(func.count()).where(
                AppointmentCancellation.tenant_id == app.tenant_id,
                AppointmentCancellation.status == "IN_PROGRESS",
            )
            assert (await session.execute(held)).scalar_one() == 1000


# --- serve --demo: the same functions seed one of each, as before -------------------------------


@pytest.fixture(scope="module")
def demo_database(database_url: str) -> Iterator[str]:
    """A database of its own for the demo's seed."""
    with migrated_database(database_url) as url:
        yield url


async def test_the_demo_seed_still_makes_one_fresh_fixture_of_each(
    demo_database: str, tmp_path: Path
) -> None:
    """Each scenario's named fixture (cancellation-in-progress with its held cancellation, the
    service scenarios with theirs), written to demo.json; a second seed keeps every one."""
    settings = Settings(database_url=demo_database, data_dir=tmp_path)
    demo = await seed_demo(settings, demo_database, "http://127.0.0.1:9")
    assert set(demo["appointments"]) == set(scenarios.SCENARIOS)
    assert set(demo["services"]) == set(sc.SCENARIOS)
    assert set(demo["ux"]) == set(csg.SCENARIOS)
    assert (tmp_path / "demo.json").exists()
    engine = make_engine(demo_database, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            names = {
                tenant.id: tenant.name
                for tenant in (await session.execute(select(Tenant))).scalars()
            }
            for scenario, appointment_id in demo["appointments"].items():
                stored = await session.get(Appointment, appointment_id)
                assert stored is not None, scenario
                owner = "other" if scenario == "other-tenant" else "demo"
                assert names[stored.tenant_id] == owner, scenario
                twin = await session.get(SimNbnAppointment, stored.nbn_appointment_id)
                assert twin is not None and twin.scenario == scenario
                held = select(AppointmentCancellation.status).where(
                    AppointmentCancellation.appointment_id == appointment_id
                )
                statuses = list((await session.execute(held)).scalars())
                assert statuses == (
                    ["IN_PROGRESS"] if scenario == "cancellation-in-progress" else []
                )
            requested = (
                await session.execute(
                    select(ServiceCancellation).where(
                        ServiceCancellation.service_id == demo["services"]["cancellation-requested"]
                    )
                )
            ).scalar_one()
            assert (requested.status, requested.submission) == ("REQUESTED", 1)
            assert requested.submission_job_id is not None
            job = await session.execute(
                text("SELECT args FROM procrastinate_jobs WHERE id = :id"),
                {"id": requested.submission_job_id},
            )
            assert job.scalar_one() == {"cancellation_id": requested.id, "submission": 1}
            cancelled = await session.get(Service, demo["services"]["cancelled"])
            assert cancelled is not None and cancelled.cancelled_on is not None
            for scenario, where in demo["ux"].items():
                sim = await session.get(SimCsgAppointment, (where["businessId"], where["id"]))
                assert sim is not None and sim.scenario == scenario
    finally:
        await engine.dispose()
    again = await seed_demo(settings, demo_database, "http://127.0.0.1:9")
    for kind in ("clients", "appointments", "services", "ux", "ux_client"):
        assert again[kind] == demo[kind], kind
