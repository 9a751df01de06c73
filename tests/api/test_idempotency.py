"""Idempotency-Key on Connect POSTs: replay, reuse with another body, in flight, expiry; the key
kept on the request rows it made."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from cancelgate.appointments.models import AppointmentCancellation
from cancelgate.auth.models import ApiClient
from cancelgate.idempotency.models import IdempotencyRecord
from cancelgate.services.models import ServiceCancellation
from cancelgate.upstream.nbn import scenarios, service_scenarios
from tests.api.checks import assert_error, hold_key
from tests.api.conftest import Caller
from tests.support import REQUEST, SUBSCRIPTIONS, in_days

SERVICE = "/api/connect/services/service-cancellations"


def new_key() -> str:
    return str(uuid.uuid4())


async def post(
    caller: Caller, path: str, body: object, key: str | None, version: str = "8"
) -> httpx.Response:
    headers = caller.headers(version)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await caller.http.post(path, json=body, headers=headers)


async def set_enabled(caller: Caller, enabled: bool) -> None:
    """Disable or enable the caller's client (the server checks on every request in tests)."""
    async with caller.db.begin() as session:
        await session.execute(
            update(ApiClient).where(ApiClient.id == caller.client_pk).values(enabled=enabled)
        )


async def cancellations_of(caller: Caller, appointment_id: int) -> int:
    async with caller.db() as session:
        count = await session.scalar(
            select(func.count()).where(AppointmentCancellation.appointment_id == appointment_id)
        )
    return int(count or 0)


async def test_same_key_and_body_replays_the_first_response(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    key = new_key()
    first = await post(caller, REQUEST, {"appointmentId": appointment.id}, key)
    again = await post(caller, REQUEST, {"appointmentId": appointment.id}, key)
    assert first.status_code == again.status_code == 201
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert again.headers["x-content-type-options"] == "nosniff"
    assert await cancellations_of(caller, appointment.id) == 1
    # Without the key, the same request is a new one, refused by the rules.
    fresh = await post(caller, REQUEST, {"appointmentId": appointment.id}, None)
    assert fresh.status_code == 422


async def test_an_error_answer_is_replayed_too(caller: Caller) -> None:
    """A 4xx is the request's final answer: the same key gets it again, even once things change."""
    key = new_key()
    first = await post(caller, REQUEST, {"appointmentId": 999_999_999}, key)
    body = assert_error(first, 404, "business.rule", "resource.not.found")
    again = await post(caller, REQUEST, {"appointmentId": 999_999_999}, key)
    assert again.status_code == 404 and again.json() == body
    assert again.headers["content-type"] == "application/json"


async def test_same_key_other_body_is_422(caller: Caller) -> None:
    one, two = (
        await caller.appointment(scenarios.BOOKED),
        await caller.appointment(scenarios.BOOKED),
    )
    key = new_key()
    assert (await post(caller, REQUEST, {"appointmentId": one.id}, key)).status_code == 201
    reused = await post(caller, REQUEST, {"appointmentId": two.id}, key)
    assert_error(reused, 422, "client.validation", "idempotency.key.reused")
    assert await cancellations_of(caller, two.id) == 0
    # Another endpoint with the same key is another request, too.
    other_path = await post(caller, SUBSCRIPTIONS, {"url": "http://127.0.0.1:9/hook"}, key)
    assert_error(other_path, 422, "client.validation", "idempotency.key.reused")


async def test_while_the_first_is_running_the_key_is_409(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    key = new_key()
    body = f'{{"appointmentId":{appointment.id}}}'.encode()
    now = await hold_key(caller, key, body, timedelta(seconds=60))
    headers = {**caller.headers(), "Idempotency-Key": key, "Content-Type": "application/json"}
    in_flight = await caller.http.post(REQUEST, content=body, headers=headers)
    error = assert_error(in_flight, 409, "business.rule", "idempotency.key.in.progress")
    assert in_flight.headers["retry-after"] == "1" and error["apiSubErrors"] == []
    assert await cancellations_of(caller, appointment.id) == 0
    # A first request whose process died (lock lapsed) is taken over by the retry.
    async with caller.db.begin() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == key)
            .values(locked_until=now - timedelta(seconds=1))
        )
    retried = await caller.http.post(REQUEST, content=body, headers=headers)
    assert retried.status_code == 201
    assert await cancellations_of(caller, appointment.id) == 1


async def test_concurrent_retries_with_one_key_make_one_request(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    key = new_key()
    responses = await asyncio.gather(
        *(post(caller, REQUEST, {"appointmentId": appointment.id}, key) for _ in range(20))
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 409}, statuses
    locations = {r.headers["location"] for r in responses if r.status_code == 201}
    assert len(locations) == 1
    assert await cancellations_of(caller, appointment.id) == 1


async def test_server_side_failures_are_not_kept(caller: Caller) -> None:
    """A 502 (the nbn is down) may be retried with the same key: it runs again."""
    appointment = await caller.appointment(scenarios.UPSTREAM_UNAVAILABLE)
    key = new_key()
    for _ in range(2):
        response = await post(caller, REQUEST, {"appointmentId": appointment.id}, key)
        assert_error(response, 502, "remote.call", "remote.call.error")
        assert "idempotent-replayed" not in response.headers


async def test_keys_belong_to_a_tenant(caller: Caller, other_caller: Caller) -> None:
    mine, theirs = (
        await caller.appointment(scenarios.BOOKED),
        await other_caller.appointment(scenarios.BOOKED),
    )
    key = new_key()
    first = await post(caller, REQUEST, {"appointmentId": mine.id}, key)
    second = await post(other_caller, REQUEST, {"appointmentId": theirs.id}, key)
    assert first.status_code == second.status_code == 201
    assert first.headers["location"] != second.headers["location"]


async def test_expired_keys_are_forgotten(caller: Caller) -> None:
    one = await caller.appointment(scenarios.BOOKED)
    key = new_key()
    assert (await post(caller, REQUEST, {"appointmentId": one.id}, key)).status_code == 201
    async with caller.db.begin() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.tenant_id == caller.tenant_id, IdempotencyRecord.key == key)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    two = await caller.appointment(scenarios.BOOKED)
    assert (await post(caller, REQUEST, {"appointmentId": two.id}, key)).status_code == 201


async def test_malformed_keys_are_400(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    body = {"appointmentId": appointment.id}
    for key in ("", "x" * 256, "with space", "é".encode()):
        # httpx takes str and bytes values alike (Headers normalises each value), but its
        # HeaderTypes alias only admits all-str or all-bytes mappings.
        response = await caller.http.post(
            REQUEST,
            json=body,
            headers={**caller.headers(), "Idempotency-Key": key},  # type: ignore[arg-type]
        )
        assert_error(response, 400, "client.validation", "idempotency.key.invalid")
    twice = await caller.http.post(
        REQUEST,
        json=body,
        headers=[*caller.headers().items(), ("Idempotency-Key", "a1"), ("Idempotency-Key", "a2")],
    )
    assert_error(twice, 400, "client.validation", "idempotency.key.invalid")
    assert await cancellations_of(caller, appointment.id) == 0


async def test_without_a_valid_token_nothing_is_kept(caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    key = new_key()
    headers = {"X-API-VERSION": "8", "Idempotency-Key": key, "Authorization": "Bearer nope"}
    refused = await caller.http.post(
        REQUEST, json={"appointmentId": appointment.id}, headers=headers
    )
    assert refused.status_code == 401
    accepted = await post(caller, REQUEST, {"appointmentId": appointment.id}, key)
    assert accepted.status_code == 201


async def test_every_connect_post_replays(caller: Caller) -> None:
    """Service request, reschedule and abort; webhook create, rotate, test, redeliver; sandbox."""
    service = await caller.service(service_scenarios.ACTIVE)
    other = await caller.service(service_scenarios.ACTIVE)
    date_body = {"serviceId": service.id, "cancellationDate": in_days(1)}
    later = in_days(2)
    hook = {"url": "http://127.0.0.1:9/hook", "events": ["appointment.cancelled"]}
    subscription = await post(caller, SUBSCRIPTIONS, hook, None)
    sid = subscription.json()["id"]
    steps: list[tuple[str, object, str]] = [
        (f"{SERVICE}/request", date_body, "7"),
        (f"{SERVICE}/requests/reschedule", {**date_body, "cancellationDate": later}, "7"),
        (f"{SERVICE}/requests/abort", {"serviceId": service.id}, "7"),
        (f"{SERVICE}/request", {"serviceId": other.id, "cancellationDate": in_days(1)}, "7"),
        (f"/api/connect/sandbox/service-cancellations/requests/{other.id}/submit", None, "7"),
        (SUBSCRIPTIONS, {**hook, "url": "http://127.0.0.1:9/other"}, "8"),
        (f"{SUBSCRIPTIONS}/{sid}/rotate-secret", None, "8"),
        (f"{SUBSCRIPTIONS}/{sid}/test", None, "8"),
    ]
    for path, body, version in steps:
        key = new_key()
        first = await post(caller, path, body, key, version)
        assert first.status_code < 300, (path, first.text)
        again = await post(caller, path, body, key, version)
        assert (again.status_code, again.content) == (first.status_code, first.content), path
        assert again.headers.get("location") == first.headers.get("location")
        assert again.headers["idempotent-replayed"] == "true"
    deliveries = await caller.http.get(
        f"{SUBSCRIPTIONS}/{sid}/deliveries", headers=caller.headers()
    )
    delivery_id = deliveries.json()[0]["id"]
    redeliver = f"{SUBSCRIPTIONS}/{sid}/deliveries/{delivery_id}/redeliver"
    key = new_key()
    first = await post(caller, redeliver, None, key)
    again = await post(caller, redeliver, None, key)
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"


async def test_a_disabled_client_is_refused_as_without_a_key_and_nothing_is_kept(
    caller: Caller,
) -> None:
    """The key is judged after the caller is: a 401 is never stored under it."""
    appointment = await caller.appointment(scenarios.BOOKED)
    key = new_key()
    body = {"appointmentId": appointment.id}
    await set_enabled(caller, False)
    try:
        with_key = await post(caller, REQUEST, body, key)
        without_key = await post(caller, REQUEST, body, None)
    finally:
        await set_enabled(caller, True)
    assert with_key.status_code == without_key.status_code == 401
    assert {**with_key.json(), "timestamp": None} == {**without_key.json(), "timestamp": None}
    assert with_key.headers["www-authenticate"] == without_key.headers["www-authenticate"]
    async with caller.db() as session:
        kept = await session.scalar(
            select(func.count()).where(
                IdempotencyRecord.tenant_id == caller.tenant_id, IdempotencyRecord.key == key
            )
        )
    assert kept == 0
    # Enabled again, the same key runs the request for real.
    retried = await post(caller, REQUEST, body, key)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers


async def test_a_replay_of_a_deprecated_version_repeats_deprecation_and_link(
    caller: Caller,
) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    key = new_key()
    first = await post(caller, REQUEST, {"appointmentId": appointment.id}, key, version="1")
    again = await post(caller, REQUEST, {"appointmentId": appointment.id}, key, version="1")
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert first.headers["deprecation"].startswith("@")
    assert 'rel="deprecation"' in first.headers["link"]
    assert again.headers.get_list("deprecation") == first.headers.get_list("deprecation")
    assert again.headers.get_list("link") == first.headers.get_list("link")
    # A current version's replay carries neither.
    other = await caller.appointment(scenarios.BOOKED)
    current_key = new_key()
    await post(caller, REQUEST, {"appointmentId": other.id}, current_key)
    current = await post(caller, REQUEST, {"appointmentId": other.id}, current_key)
    assert current.headers["idempotent-replayed"] == "true"
    assert "deprecation" not in current.headers and "link" not in current.headers


async def appointment_keys(caller: Caller, appointment_id: int) -> list[str | None]:
    """The Idempotency-Key recorded on each of the appointment's cancellation requests."""
    async with caller.db() as session:
        rows = await session.scalars(
            select(AppointmentCancellation.idempotency_key)
            .where(AppointmentCancellation.appointment_id == appointment_id)
            .order_by(AppointmentCancellation.id)
        )
        return list(rows)


async def service_keys(caller: Caller, service_id: int) -> list[str | None]:
    """The Idempotency-Key recorded on each of the service's cancellation requests."""
    async with caller.db() as session:
        rows = await session.scalars(
            select(ServiceCancellation.idempotency_key)
            .where(ServiceCancellation.service_id == service_id)
            .order_by(ServiceCancellation.id)
        )
        return list(rows)


async def test_an_appointment_request_records_its_key_or_null(caller: Caller) -> None:
    """The key is kept on the request row (the console shows it after the record expires)."""
    keyed, unkeyed = (
        await caller.appointment(scenarios.BOOKED),
        await caller.appointment(scenarios.BOOKED),
    )
    # Any visible ASCII is a valid key: it is stored as sent.
    key = f"<{new_key()}>&\"'"
    assert (await post(caller, REQUEST, {"appointmentId": keyed.id}, key)).status_code == 201
    assert (await post(caller, REQUEST, {"appointmentId": unkeyed.id}, None)).status_code == 201
    assert await appointment_keys(caller, keyed.id) == [key]
    assert await appointment_keys(caller, unkeyed.id) == [None]


async def test_a_service_request_records_its_key_and_keeps_it_through_changes(
    caller: Caller,
) -> None:
    """The request's key stays when the request is rescheduled and aborted with other keys;
    a request without a key records null."""
    keyed, unkeyed = (
        await caller.service(service_scenarios.ACTIVE),
        await caller.service(service_scenarios.ACTIVE),
    )
    key = new_key()
    body = {"serviceId": keyed.id, "cancellationDate": in_days(1)}
    assert (await post(caller, f"{SERVICE}/request", body, key, "7")).status_code == 201
    assert await service_keys(caller, keyed.id) == [key]
    moved = {**body, "cancellationDate": in_days(2)}
    rescheduled = await post(caller, f"{SERVICE}/requests/reschedule", moved, new_key(), "7")
    assert rescheduled.status_code == 204
    aborted = await post(
        caller, f"{SERVICE}/requests/abort", {"serviceId": keyed.id}, new_key(), "7"
    )
    assert aborted.status_code == 204
    assert await service_keys(caller, keyed.id) == [key]
    plain = {"serviceId": unkeyed.id, "cancellationDate": in_days(1)}
    assert (await post(caller, f"{SERVICE}/request", plain, None, "7")).status_code == 201
    assert await service_keys(caller, unkeyed.id) == [None]
