"""Webhook delivery to real receivers on 127.0.0.1: signatures, retries, 410, isolation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.api.checks import apoll_until, poll
from tests.api.conftest import Caller
from tests.receiver import receiving
from tests.support import REQUEST, SERVICE_REQUEST, SUBSCRIPTIONS, SYDNEY, sydney_today


async def subscribe(caller: Caller, url: str, events: list[str]) -> dict[str, Any]:
    response = await caller.http.post(
        SUBSCRIPTIONS, json={"url": url, "events": events}, headers=caller.headers()
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def eventually(
    caller: Caller, path: str, done: Callable[[Any], bool], timeout: float = 5
) -> Any:
    """The body of GET path once done(body) (bounded: 5 s unless told)."""

    async def fetch() -> Any:
        return (await caller.http.get(path, headers=caller.headers())).json()

    return await apoll_until(fetch, done, timeout=timeout, what=path)


async def settled(caller: Caller, subscription_id: int) -> dict[str, Any]:
    """The subscription's only delivery, once it is no longer pending: no attempt follows it."""
    path = f"{SUBSCRIPTIONS}/{subscription_id}/deliveries"
    [entry] = await eventually(
        caller, path, lambda body: body and body[0]["status"] != "pending", timeout=20
    )
    return dict(entry)


async def cancel_booked(caller: Caller) -> int:
    appointment = await caller.appointment(scenarios.BOOKED)
    response = await caller.http.post(
        REQUEST, json={"appointmentId": appointment.id}, headers=caller.headers()
    )
    assert (await poll(caller, response.headers["location"])).status_code == 200
    return appointment.id


async def test_appointment_cancelled_is_signed_and_verifies(
    caller: Caller, other_caller: Caller
) -> None:
    with receiving() as receiver, receiving() as bystander:
        subscription = await subscribe(caller, receiver.url, ["appointment.cancelled"])
        elsewhere = await subscribe(other_caller, bystander.url, ["appointment.cancelled"])
        appointment_id = await cancel_booked(caller)
        # The event and all its deliveries commit with the outcome cancel_booked waited for.
        foreign = await other_caller.http.get(
            f"{SUBSCRIPTIONS}/{elsewhere['id']}/deliveries", headers=other_caller.headers()
        )
        entry = await settled(caller, subscription["id"])
    assert foreign.status_code == 200 and foreign.json() == []
    assert entry["status"] == "succeeded"
    assert [a["statusCode"] for a in entry["attempts"]] == [200]
    [received] = receiver.requests
    assert bystander.requests == []
    assert received.headers["webhook-id"] == entry["eventId"]
    payload = Webhook(subscription["secret"]).verify(received.body, received.headers)
    assert payload["id"] == appointment_id and payload["status"] == "cancelled"
    assert list(json.loads(received.body)) == [
        "orderId", "id", "nbnAppointmentId", "status", "startTime", "endTime", "slotType",
        "timezoneOffset", "priorityAssist", "eSla", "demandType", "contact", "customerRef",
        "cancelledOn", "serviceId",
    ]  # fmt: skip
    headers = received.headers
    assert headers["z-event-type"] == "appointment.cancelled.event"
    assert headers["z-notification-type"] == "appointment.cancelled.notification"
    assert headers["z-notification-model"] == "appointment"
    assert headers["user-agent"].startswith("cancelgate-webhooks/")
    assert headers["content-type"] == "application/json"


async def test_failures_are_retried_with_the_same_webhook_id(caller: Caller) -> None:
    with receiving() as receiver:
        receiver.answers = [500, 503]
        subscription = await subscribe(caller, receiver.url, ["appointment.cancelled"])
        await cancel_booked(caller)
        entry = await settled(caller, subscription["id"])
    assert [a["statusCode"] for a in entry["attempts"]] == [500, 503, 200]
    requests = receiver.requests
    assert len(requests) == 3
    ids = {r.headers["webhook-id"] for r in requests}
    assert ids == {entry["eventId"]}
    Webhook(subscription["secret"]).verify(requests[-1].body, requests[-1].headers)
    async with caller.db() as session:
        delivery = (
            await session.execute(
                select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription["id"])
            )
        ).scalar_one()
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)


async def test_gone_disables_the_subscription(caller: Caller) -> None:
    with receiving() as receiver:
        receiver.answers = [410]
        subscription = await subscribe(caller, receiver.url, ["appointment.cancelled"])
        await cancel_booked(caller)
        await receiver.arrived(1)
        path = f"{SUBSCRIPTIONS}/{subscription['id']}"
        shown = await eventually(caller, path, lambda body: not body["enabled"])
    assert shown["enabled"] is False
    assert "410" in shown["disabledReason"]


async def test_test_event_delivery_log_and_redelivery(caller: Caller, other_caller: Caller) -> None:
    with receiving() as receiver:
        receiver.answers = [500]
        subscription = await subscribe(caller, receiver.url, ["service.cancelled"])
        path = f"{SUBSCRIPTIONS}/{subscription['id']}"
        sent = await caller.http.post(f"{path}/test", headers=caller.headers())
        assert sent.status_code == 202, sent.text
        assert sent.json()["eventType"] == "webhook.test"
        await receiver.arrived(2)
        log = await eventually(
            caller, f"{path}/deliveries", lambda body: body and body[0]["status"] == "succeeded"
        )
        [entry] = log
        assert entry["status"] == "succeeded"
        assert [a["statusCode"] for a in entry["attempts"]] == [500, 200]
        assert all(a["latencyMs"] >= 0 and a["attemptedAt"] for a in entry["attempts"])
        again = await caller.http.post(
            f"{path}/deliveries/{entry['id']}/redeliver", headers=caller.headers()
        )
        assert again.status_code == 202 and again.json()["status"] == "pending"
        requests = await receiver.arrived(3)
        foreign = await other_caller.http.get(f"{path}/deliveries", headers=other_caller.headers())
        assert foreign.status_code == 404
    ids = {r.headers["webhook-id"] for r in requests}
    assert ids == {entry["eventId"]}
    first = requests[0].headers
    assert first["z-event-type"] == "webhook.test.event"
    Webhook(subscription["secret"]).verify(requests[-1].body, requests[-1].headers)


async def test_during_rotation_both_secrets_verify(caller: Caller) -> None:
    with receiving() as receiver:
        subscription = await subscribe(caller, receiver.url, ["appointment.cancelled"])
        path = f"{SUBSCRIPTIONS}/{subscription['id']}"
        rotated = (await caller.http.post(f"{path}/rotate-secret", headers=caller.headers())).json()
        await caller.http.post(f"{path}/test", headers=caller.headers())
        [received] = await receiver.arrived(1)
    signatures = received.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    Webhook(rotated["secret"]).verify(received.body, received.headers)
    Webhook(subscription["secret"]).verify(received.body, received.headers)


async def test_service_events_carry_the_resource(caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    with receiving() as receiver:
        subscription = await subscribe(caller, receiver.url, ["service.cancelled"])
        body = {
            "serviceId": service.id,
            "cancellationDate": sydney_today().isoformat(),
        }
        response = await caller.http.post(SERVICE_REQUEST, json=body, headers=caller.headers("7"))
        assert response.status_code == 201, response.text
        [received] = await receiver.arrived(1)
    payload = Webhook(subscription["secret"]).verify(received.body, received.headers)
    assert (payload["serviceId"], payload["status"], payload["cancelled"]) == (
        service.id, "COMPLETED", True,
    )  # fmt: skip
    headers = received.headers
    assert headers["z-event-type"] == "service.cancelled.event"
    assert headers["z-notification-model"] == "service"


async def test_private_targets_are_refused_at_delivery_time_too(caller: Caller) -> None:
    subscription = await subscribe(caller, "http://127.0.0.1:9/hook", ["appointment.cancelled"])
    async with caller.db() as session:
        row = await session.get(WebhookSubscription, subscription["id"])
        assert row is not None
        row.url = "http://10.1.2.3/hook"  # as if its DNS had changed since it was made
        await session.commit()
    path = f"{SUBSCRIPTIONS}/{subscription['id']}"
    assert (await caller.http.post(f"{path}/test", headers=caller.headers())).status_code == 202
    [entry] = await eventually(caller, f"{path}/deliveries", lambda body: body[0]["attempts"])
    attempt = entry["attempts"][0]
    assert attempt["statusCode"] is None and attempt["error"].startswith("refused:")


async def test_five_days_of_failure_disable_the_subscription(caller: Caller) -> None:
    subscription = await subscribe(caller, "http://127.0.0.1:9/hook", ["appointment.cancelled"])
    async with caller.db() as session:
        row = await session.get(WebhookSubscription, subscription["id"])
        assert row is not None
        row.failing_since = datetime.now(SYDNEY) - timedelta(days=5, minutes=1)
        await session.commit()
    path = f"{SUBSCRIPTIONS}/{subscription['id']}"
    assert (await caller.http.post(f"{path}/test", headers=caller.headers())).status_code == 202
    shown = await eventually(caller, path, lambda body: not body["enabled"])
    assert shown["enabled"] is False
    assert shown["disabledReason"].startswith("Deliveries have failed without a break since")
    [entry] = (await caller.http.get(f"{path}/deliveries", headers=caller.headers())).json()
    assert entry["status"] == "failed" and entry["attempts"][0]["error"]
