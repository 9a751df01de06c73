"""A caller sees only its own objects: every Connect route with an object id, walked by another
tenant against the owner's ids, answers the standard 404 and changes nothing; a UX channel
client cannot cancel in a business unit it was not given.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.keys import InstanceKeys
from cancelgate.services.models import ServiceCancellation
from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.ux.models import UxAppointment
from cancelgate.webhooks.models import WebhookSubscription
from cancelgate.webhooks.signing import unseal
from tests.api.checks import apoll_until, assert_error, poll
from tests.api.conftest import Caller, Sessions, new_channel
from tests.api.test_ux_cancel import NOT_FOUND, UNAUTHORIZED, assert_ux_error
from tests.receiver import Receiver, receiving
from tests.support import INSTALLATION_BODY, SUBSCRIPTIONS, in_days, location_id

APPOINTMENTS = "/api/connect/orders/appointment-cancellations"
SERVICES = "/api/connect/services"
SERVICE_CANCELLATIONS = f"{SERVICES}/service-cancellations"
SUBSCRIPTION = f"{SUBSCRIPTIONS}/{{subscription_id}}"
UX_PATH = "/ecom-ux/v1/{business_id}/appointment/{appointment_id}"
UX_FIXTURES_PATH = "/ecom-ux/v1/{business_id}/sandbox/appointments"
# A valid id (a Java int) that no table will reach in a test run.
UNKNOWN = 2_147_480_000
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@dataclass(frozen=True)
class Ids:
    """The ids a walk aims at: the owner's objects, and the walker's own subscription."""

    appointment: int  # cancelled by its owner over HTTP
    booked_appointment: int  # still booked: a leaked request would cancel it
    cancellation: int
    service: int  # its cancellation is REQUESTED
    active_service: int  # eligible, nothing requested
    subscription: int
    delivery: int
    own_subscription: int  # the walker's own (redelivering someone else's delivery through it)


@dataclass(frozen=True)
class Probe:
    """One request of the walk: a route template filled with ids, and the id its 404 names."""

    method: str
    template: str  # as /openapi.json spells it
    version: str
    named: Callable[[Ids], int]
    params: Callable[[Ids], dict[str, int]] = field(default=lambda ids: {})
    body: Callable[[Ids], dict[str, Any]] | None = None

    def path(self, ids: Ids) -> str:
        return self.template.format(**self.params(ids))


def by_id(
    method: str,
    template: str,
    version: str,
    named: Callable[[Ids], int],
    body: Callable[[Ids], dict[str, Any]] | None = None,
) -> Probe:
    """A probe of a route with one path id, filled with the id its 404 names."""
    [placeholder] = re.findall(r"\{(\w+)\}", template)
    return Probe(method, template, version, named, lambda ids: {placeholder: named(ids)}, body)


WALK: list[Probe] = [
    # Appointment cancellations (versions 1..8).
    Probe("POST", f"{APPOINTMENTS}/request", "8", lambda i: i.appointment,
          body=lambda i: {"appointmentId": i.appointment}),
    Probe("POST", f"{APPOINTMENTS}/request", "8", lambda i: i.booked_appointment,
          body=lambda i: {"appointmentId": i.booked_appointment}),
    by_id("GET", f"{APPOINTMENTS}/requests/{{request_id}}", "8", lambda i: i.cancellation),
    # Service cancellations (versions 1..7) and services (1..8).
    Probe("POST", f"{SERVICE_CANCELLATIONS}/request", "7", lambda i: i.active_service,
          body=lambda i: {"serviceId": i.active_service, "cancellationDate": in_days(3)}),
    Probe("POST", f"{SERVICE_CANCELLATIONS}/request", "7", lambda i: i.service,
          body=lambda i: {"serviceId": i.service, "cancellationDate": in_days(3)}),
    Probe("POST", f"{SERVICE_CANCELLATIONS}/requests/reschedule", "7", lambda i: i.service,
          body=lambda i: {"serviceId": i.service, "cancellationDate": in_days(5)}),
    Probe("POST", f"{SERVICE_CANCELLATIONS}/requests/abort", "7", lambda i: i.service,
          body=lambda i: {"serviceId": i.service}),
    by_id("GET", f"{SERVICE_CANCELLATIONS}/requests/{{service_id}}", "7", lambda i: i.service),
    by_id("GET", f"{SERVICES}/{{service_id}}", "8", lambda i: i.service),
    by_id("GET", f"{SERVICES}/{{service_id}}", "8", lambda i: i.active_service),
    by_id("POST", "/api/connect/sandbox/service-cancellations/requests/{service_id}/submit", "7",
          lambda i: i.service),
    # Webhook subscriptions (versions 1..8).
    by_id("GET", SUBSCRIPTION, "8", lambda i: i.subscription),
    by_id("PATCH", SUBSCRIPTION, "8", lambda i: i.subscription,
          body=lambda i: {"url": "http://127.0.0.1:9/stolen", "enabled": False,
                          "events": ["appointment.cancelled"], "description": "taken over"}),
    by_id("DELETE", SUBSCRIPTION, "8", lambda i: i.subscription),
    by_id("POST", f"{SUBSCRIPTION}/rotate-secret", "8", lambda i: i.subscription),
    by_id("POST", f"{SUBSCRIPTION}/test", "8", lambda i: i.subscription),
    by_id("GET", f"{SUBSCRIPTION}/deliveries", "8", lambda i: i.subscription),
    Probe("POST", f"{SUBSCRIPTION}/deliveries/{{delivery_id}}/redeliver", "8",
          lambda i: i.delivery,
          params=lambda i: {"subscription_id": i.subscription, "delivery_id": i.delivery}),
    Probe("POST", f"{SUBSCRIPTION}/deliveries/{{delivery_id}}/redeliver", "8",
          lambda i: i.delivery,
          params=lambda i: {"subscription_id": i.own_subscription, "delivery_id": i.delivery}),
]  # fmt: skip


@dataclass
class Owned:
    """What tenant A made, and every string of it that must never reach tenant B."""

    ids: Ids
    secret: str
    cancellation_date: str
    leaks: list[str]


@dataclass
class Snapshot:
    """Everything A can read about its objects, over HTTP and in the database."""

    http: dict[str, tuple[int, Any]]
    subscription_row: tuple[Any, ...]
    service_cancellation_row: tuple[Any, ...]
    appointment_cancellations: list[tuple[Any, ...]]
    booked_status: str


async def settled_deliveries(caller: Caller, subscription_id: int) -> list[dict[str, Any]]:
    """The delivery log once nothing in it is pending any more (bounded: 20 s)."""
    path = f"{SUBSCRIPTIONS}/{subscription_id}/deliveries"

    async def fetch() -> list[dict[str, Any]]:
        response = await caller.http.get(path, headers=caller.headers())
        assert response.status_code == 200, response.text
        log: list[dict[str, Any]] = response.json()
        return log

    def settled(log: list[dict[str, Any]]) -> bool:
        return bool(log) and all(d["status"] != "pending" for d in log)

    return await apoll_until(fetch, settled, timeout=20, what=f"{path} settled")


async def subscribe(caller: Caller, url: str, description: str) -> dict[str, Any]:
    response = await caller.http.post(
        SUBSCRIPTIONS,
        json={"url": url, "events": ["service.cancellation-rejected"], "description": description},
        headers=caller.headers(),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_everything(caller: Caller, other: Caller, receiver: Receiver) -> Owned:
    """A's objects (each made the way a client makes it), and B's own subscription."""
    appointment = await caller.appointment(scenarios.BOOKED)
    booked = await caller.appointment(scenarios.BOOKED)
    requested = await caller.http.post(
        f"{APPOINTMENTS}/request", json={"appointmentId": appointment.id}, headers=caller.headers()
    )
    assert requested.status_code == 201, requested.text
    outcome = await poll(caller, requested.headers["location"])
    assert outcome.status_code == 200, outcome.text
    service = await caller.service(sc.ACTIVE)
    active = await caller.service(sc.ACTIVE)
    cancellation_date = in_days(14)
    service_request = await caller.http.post(
        f"{SERVICE_CANCELLATIONS}/request",
        json={"serviceId": service.id, "cancellationDate": cancellation_date},
        headers=caller.headers("7"),
    )
    assert service_request.status_code == 201, service_request.text
    description = f"a-{uuid.uuid4().hex}"
    subscription = await subscribe(caller, receiver.url, description)
    sent = await caller.http.post(
        f"{SUBSCRIPTIONS}/{subscription['id']}/test", headers=caller.headers()
    )
    assert sent.status_code == 202, sent.text
    [delivery] = await settled_deliveries(caller, subscription["id"])
    assert delivery["status"] == "succeeded", delivery
    own = await subscribe(other, "http://127.0.0.1:9/b-hook", "b's own")
    ids = Ids(
        appointment=appointment.id,
        booked_appointment=booked.id,
        cancellation=location_id(requested.headers["location"]),
        service=service.id,
        active_service=active.id,
        subscription=subscription["id"],
        delivery=delivery["id"],
        own_subscription=own["id"],
    )
    leaks = [
        receiver.url, subscription["secret"], description, caller.tenant, caller.client_id,
        appointment.nbn_appointment_id, booked.nbn_appointment_id, service.nbn_service_id,
        active.nbn_service_id, delivery["eventId"],
    ]  # fmt: skip
    return Owned(ids, subscription["secret"], cancellation_date, leaks)


async def snapshot(caller: Caller, ids: Ids) -> Snapshot:
    reads = {
        "cancellation": (f"{APPOINTMENTS}/requests/{ids.cancellation}", "8"),
        "service cancellation": (f"{SERVICE_CANCELLATIONS}/requests/{ids.service}", "7"),
        "service": (f"{SERVICES}/{ids.service}", "8"),
        "active service": (f"{SERVICES}/{ids.active_service}", "8"),
        "subscription": (f"{SUBSCRIPTIONS}/{ids.subscription}", "8"),
        "subscriptions": (SUBSCRIPTIONS, "8"),
        "deliveries": (f"{SUBSCRIPTIONS}/{ids.subscription}/deliveries", "8"),
    }
    seen: dict[str, tuple[int, Any]] = {}
    for name, (path, version) in reads.items():
        response = await caller.http.get(path, headers=caller.headers(version))
        seen[name] = (response.status_code, response.json())
    async with caller.db() as session:
        sub = await session.get(WebhookSubscription, ids.subscription)
        assert sub is not None
        cancellation = (
            await session.execute(
                select(ServiceCancellation).where(ServiceCancellation.service_id == ids.service)
            )
        ).scalar_one()
        appointment_cancellations = (
            await session.execute(
                select(
                    AppointmentCancellation.id,
                    AppointmentCancellation.appointment_id,
                    AppointmentCancellation.status,
                    AppointmentCancellation.updated_at,
                )
                .where(
                    AppointmentCancellation.appointment_id.in_(
                        [ids.appointment, ids.booked_appointment]
                    )
                )
                .order_by(AppointmentCancellation.id)
            )
        ).all()
        booked = await session.get(Appointment, ids.booked_appointment)
        assert booked is not None
        return Snapshot(
            http=seen,
            subscription_row=(
                sub.url, sub.events, sub.description, sub.enabled, sub.disabled_reason,
                sub.secret_sealed, sub.previous_secret_sealed, sub.previous_secret_expires_at,
                sub.updated_at,
            ),
            service_cancellation_row=(
                cancellation.id, cancellation.status, cancellation.request_date,
                cancellation.submission, cancellation.submit_at, cancellation.submission_job_id,
                cancellation.aborted_on, cancellation.request_key, cancellation.updated_at,
            ),
            appointment_cancellations=[tuple(row) for row in appointment_cancellations],
            booked_status=booked.status,
        )  # fmt: skip


def assert_not_found(response: httpx.Response, named: int, leaks: list[str], case: str) -> None:
    """The standard 404 naming only the requested id, and nothing of the owner's."""
    assert response.status_code == 404, f"{case}: {response.status_code} {response.text}"
    body = assert_error(
        response, 404, "business.rule", "resource.not.found", f"Resource with id {named} not found"
    )
    assert body["apiSubErrors"] == [], case
    assert re.findall(r"\d+", str(body["message"])) == [str(named)], case
    assert "location" not in response.headers, case
    exposed = response.text + repr(sorted(response.headers.items()))
    for secret in leaks:
        assert secret not in exposed, f"{case}: leaks {secret!r}"


async def walk(walker: Caller, ids: Ids, leaks: list[str]) -> None:
    """Every probe, as the walker, against these ids: each must be the standard 404."""
    failures: list[str] = []
    for probe in WALK:
        body = probe.body(ids) if probe.body is not None else None
        path = probe.path(ids)
        response = await walker.http.request(
            probe.method, path, json=body, headers=walker.headers(probe.version)
        )
        try:
            assert_not_found(response, probe.named(ids), leaks, f"{probe.method} {path} {body}")
        except AssertionError as exc:  # report every probe that answered, not just the first
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


async def test_another_tenant_gets_404_everywhere_and_changes_nothing(
    caller: Caller, other_caller: Caller, keys: InstanceKeys
) -> None:
    """B, with a valid token, walks every id route against A's ids: 404, no leak, no effect."""
    with receiving(path=f"/hook-{uuid.uuid4().hex}") as receiver:
        owned = await make_everything(caller, other_caller, receiver)
        before = await snapshot(caller, owned.ids)
        await walk(other_caller, owned.ids, owned.leaks)
        after = await snapshot(caller, owned.ids)
        assert len(receiver.requests) == 1  # the test event only; no redelivery, no B test
    assert after == before
    status, subscription = after.http["subscription"]
    assert status == 200 and subscription["enabled"] is True
    assert after.http["subscriptions"] == (200, [subscription])
    status, resource = after.http["service cancellation"]
    assert status == 200 and resource["status"] == "REQUESTED"
    assert resource["abortedOn"] is None and resource["requestDate"] == owned.cancellation_date
    status, active = after.http["active service"]
    assert status == 200 and active["serviceCancellation"]["status"] is None
    assert active["serviceCancellation"]["canRequestCancellation"] is True
    assert after.http["cancellation"][0] == 200
    [(_, appointment_id, _, _)] = after.appointment_cancellations  # none for the booked one
    assert appointment_id == owned.ids.appointment
    assert after.booked_status == before.booked_status
    async with caller.db() as session:
        row = await session.get(WebhookSubscription, owned.ids.subscription)
    assert row is not None and row.previous_secret_sealed is None
    assert unseal(keys.sealing_key, row.secret_sealed) == owned.secret
    listed = await other_caller.http.get(SUBSCRIPTIONS, headers=other_caller.headers())
    assert [s["id"] for s in listed.json()] == [owned.ids.own_subscription]


async def test_an_unknown_id_gets_the_very_same_answer(other_caller: Caller) -> None:
    """Ids nobody owns walk to the same 404: the answer cannot tell foreign from absent."""
    await walk(other_caller, Ids(*([UNKNOWN] * 8)), [])


async def test_the_walk_covers_every_route_with_an_id(http: httpx.AsyncClient) -> None:
    """A new route with a path id must join WALK (the UX routes are tested on their own: the
    PATCH below, the sandbox's fixtures in test_sandbox_fixtures.py)."""
    spec = (await http.get("/openapi.json")).json()
    routed = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        if "{" in path
        for method in operations
        if method in HTTP_METHODS
    }
    routed -= {("PATCH", UX_PATH), ("GET", UX_PATH), ("POST", UX_FIXTURES_PATH)}
    walked = {(probe.method, probe.template) for probe in WALK if "{" in probe.template}
    assert routed == walked


async def test_a_channel_client_cannot_cancel_in_a_business_unit_it_was_not_given(
    http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys, other_caller: Caller
) -> None:
    """A JM-only client gets 401 on a PR appointment, which stays confirmed until PR cancels."""
    pr = await new_channel(http, db, keys, "pr-web", ["PR"])
    jm = await new_channel(http, db, keys, "jm-web", ["JM"])
    appointment = await pr.appointment(csg.INSTALLATION)
    path = f"/ecom-ux/v1/PR/appointment/{appointment.appointment_id}"
    refused = await jm.patch("PR", appointment.appointment_id, INSTALLATION_BODY)
    assert_ux_error(refused, 401, *UNAUTHORIZED)
    assert appointment.appointment_id not in refused.text
    own_unit = await jm.patch("JM", appointment.appointment_id, INSTALLATION_BODY)
    assert_ux_error(own_unit, 404, *NOT_FOUND)
    bearer = await http.patch(
        path,
        json=INSTALLATION_BODY,
        headers={**other_caller.headers(), "X-Correlation-ID": str(uuid.uuid4())},
    )
    assert_ux_error(bearer, 401, *UNAUTHORIZED)
    async with db() as session:
        stored = await session.get(UxAppointment, appointment.id)
    sim = await pr.sim(appointment)
    assert stored is not None and stored.status == "confirmed" and stored.cancelled_at is None
    assert sim is not None and sim.calls == 0
    allowed = await pr.patch("PR", appointment.appointment_id, INSTALLATION_BODY)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json() == {"id": appointment.appointment_id, "status": "cancelled"}
