"""`AsyncClient` against a live `cancelgate serve`: every operation and its error paths."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from joserfc.jwk import RSAKey

from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.ux.models import UxAppointment
from cancelgate_client import (
    Accepted,
    ApiError,
    AppointmentCancellation,
    AsyncClient,
    ConnectApiError,
    Delivery,
    InProgress,
    OAuthError,
    PollPolicy,
    PollUpdate,
    ProtocolError,
    ServiceCancellation,
    SubError,
    Token,
    TransportError,
    UxApiError,
    UxCancellation,
    WaitTimeout,
    WebhookVerificationError,
    verify_webhook,
)
from cancelgate_client.polling import HELD_READ_MARGIN, MIN_POLL_DELAY
from tests.api.checks import apoll_until, hold_key
from tests.api.conftest import CLIENT_KEY, EMAIL, NAME, Caller, Channel
from tests.receiver import receiving
from tests.support import (
    REQUEST,
    REQUESTS,
    SERVICE_REQUESTS,
    SUBSCRIPTIONS,
    free_port,
    location_id,
    sydney_today,
)

BILLING_ACCOUNT = csg.SEED_BILLING_ACCOUNT
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# Long polling off: every poll answered at once, paced by Retry-After or backoff.
PLAIN = PollPolicy(long_poll=0)


def client_for(
    base: str,
    caller: Caller,
    http: httpx.AsyncClient | None = None,
    poll: PollPolicy | None = None,
) -> AsyncClient:
    """A client of base with the caller's client credentials (over http, if given)."""
    return AsyncClient(
        base, client_id=caller.client_id, client_secret=caller.client_secret, http=http, poll=poll
    )


@pytest_asyncio.fixture(loop_scope="session")
async def api(api_server: str, caller: Caller) -> AsyncIterator[AsyncClient]:
    """A client of the server with the caller's client credentials."""
    async with client_for(api_server, caller) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def plain(api_server: str, caller: Caller) -> AsyncIterator[AsyncClient]:
    """Like `api`, with long polling off (no `Prefer: wait`)."""
    async with client_for(api_server, caller, poll=PLAIN) as client:
        yield client


@dataclass
class Traffic:
    """What a client sent (every attempt, even one that got no answer) and what it was answered."""

    sent: list[httpx.Request] = field(default_factory=list)
    answers: list[httpx.Response] = field(default_factory=list)

    def gets(self) -> list[httpx.Request]:
        return [request for request in self.sent if request.method == "GET"]


@asynccontextmanager
async def watched(
    base: str, caller: Caller, timeout: float = 30.0
) -> AsyncIterator[tuple[AsyncClient, Traffic]]:
    """A client of base (long polling on) over an httpx client with this default timeout,
    its traffic recorded by event hooks."""
    traffic = Traffic()

    async def sent(request: httpx.Request) -> None:
        traffic.sent.append(request)

    async def answered(response: httpx.Response) -> None:
        traffic.answers.append(response)

    hooks: dict[str, list[Callable[..., Any]]] = {"request": [sent], "response": [answered]}
    http = httpx.AsyncClient(timeout=timeout, event_hooks=hooks)
    async with http, client_for(base, caller, http) as api:
        yield api, traffic


@pytest_asyncio.fixture(loop_scope="session")
async def ux(api_server: str, channel: Channel) -> AsyncIterator[AsyncClient]:
    """A client of the UX API with the channel's credentials (and no Connect credentials)."""
    async with AsyncClient(
        api_server, ux_client_id=channel.client_id, ux_client_secret=channel.client_secret
    ) as client:
        yield client


async def cancel_installation(
    ux: AsyncClient, appointment: UxAppointment, correlation_id: str | None = None
) -> UxCancellation:
    """Cancel an installation (order class S) in PR with the seed's billing account."""
    return await ux.cancel_ux_appointment(
        "PR",
        appointment.appointment_id,
        order_class="S",
        billing_account=BILLING_ACCOUNT,
        correlation_id=correlation_id,
    )


# --- tokens -----------------------------------------------------------------------------


async def test_token_by_client_secret_is_cached_until_refresh(api: AsyncClient) -> None:
    first = await api.token()
    assert (first.token_type, first.expires_in) == ("Bearer", 3000)
    assert first.access_token.count(".") == 2  # an RS256 JWT
    assert await api.token() is first
    fresh = await api.token(refresh=True)
    assert fresh is not first and fresh.access_token != first.access_token
    assert await api.token() is fresh


async def test_private_key_jwt_token_works_for_api_calls(
    api_server: str, jwt_client: str, tmp_path: Path
) -> None:
    pem = CLIENT_KEY.as_pem(private=True)
    async with AsyncClient(api_server, client_id=jwt_client, private_key=pem) as api:
        token = await api.token()
        assert token.token_type == "Bearer" and token.expires_in == 3000
        assert await api.subscriptions() == []
        assert (await api.token(refresh=True)).access_token != token.access_token  # fresh jti
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(pem)
    async with AsyncClient(
        api_server, client_id=jwt_client, private_key=key_file, key_id="client-key-1"
    ) as api:
        with pytest.raises(ConnectApiError) as raised:
            await api.appointment_cancellation(2_000_000_000)
        assert raised.value.not_found


async def test_private_key_jwt_with_another_key_is_invalid_client(
    api_server: str, jwt_client: str
) -> None:
    stranger = RSAKey.generate_key(2048).as_pem(private=True)
    async with AsyncClient(api_server, client_id=jwt_client, private_key=stranger) as api:
        with pytest.raises(OAuthError) as raised:
            await api.token()
    assert (raised.value.status, raised.value.error) == (401, "invalid_client")


async def test_wrong_secret_is_oauth_invalid_client(api_server: str, caller: Caller) -> None:
    async with AsyncClient(
        api_server, client_id=caller.client_id, client_secret=caller.client_secret + "x"
    ) as api:
        with pytest.raises(OAuthError) as raised:
            await api.token()
        error = raised.value
        assert (error.status, error.error) == (401, "invalid_client")
        assert error.error_description and not error.refused
        assert error.body["error"] == "invalid_client"
        with pytest.raises(OAuthError):  # a Connect call fails on its token the same way
            await api.subscriptions()


async def test_without_client_credentials_token_is_a_value_error(api_server: str) -> None:
    async with AsyncClient(api_server) as api:
        with pytest.raises(ValueError, match="client_id"):
            await api.token()


async def test_a_token_the_server_refuses_is_replaced_once(api_server: str, caller: Caller) -> None:
    """A cached token the server answers 401 to (e.g. revoked keys) is fetched anew, once."""
    statuses: list[tuple[str, int]] = []

    async def record(response: httpx.Response) -> None:
        statuses.append((response.request.url.path, response.status_code))

    http = httpx.AsyncClient(event_hooks={"response": [record]})
    async with client_for(api_server, caller, http) as api, http:
        await api.token()
        api._token = Token(access_token="not-a-token", token_type="Bearer", expires_in=3000)
        assert await api.subscriptions() == []
        assert (await api.token()).access_token != "not-a-token"
    assert statuses == [
        ("/oauth/token", 200), (SUBSCRIPTIONS, 401), ("/oauth/token", 200), (SUBSCRIPTIONS, 200),
    ]  # fmt: skip


# --- appointment cancellations ----------------------------------------------------------


async def test_cancel_without_wait_is_accepted_and_its_key_replays(
    api: AsyncClient, api_server: str, caller: Caller
) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    accepted = await api.cancel_appointment(appointment.id)
    assert isinstance(accepted, Accepted) and accepted.status == 201
    assert re.fullmatch(rf"{re.escape(api_server + REQUESTS)}/\d+", accepted.location)
    assert accepted.idempotency_key is not None and UUID.match(accepted.idempotency_key)
    assert accepted.replayed is False
    again = await api.cancel_appointment(appointment.id, idempotency_key=accepted.idempotency_key)
    assert (again.status, again.location, again.replayed) == (201, accepted.location, True)
    assert again.idempotency_key == accepted.idempotency_key


async def test_cancel_with_wait_returns_the_cancellation(api: AsyncClient, caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    before = datetime.now(UTC).replace(microsecond=0)
    outcome = await api.cancel_appointment(appointment.id, wait=True)
    assert isinstance(outcome, AppointmentCancellation)
    assert outcome.appointment_id == appointment.id
    assert outcome.nbn_appointment_id == appointment.nbn_appointment_id
    assert outcome.requested_on is not None and outcome.cancelled_on is not None
    assert before <= outcome.requested_on <= outcome.cancelled_on <= datetime.now(UTC)
    assert outcome.raw["id"] == outcome.id


async def test_slow_cancellation_is_one_held_poll(api_server: str, caller: Caller) -> None:
    """The server holds the poll (`Prefer: wait`) until the outcome: no 202, no pause."""
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    updates: list[PollUpdate] = []
    # A default read timeout shorter than the job (1.5 s): the held poll must get a longer one,
    # or it times out and is sent again.
    async with watched(api_server, caller, timeout=1.0) as (api, traffic):
        outcome = await api.cancel_appointment(appointment.id, wait=True, on_poll=updates.append)
    assert outcome.appointment_id == appointment.id
    assert updates == []
    [poll] = traffic.gets()
    assert poll.url == f"{api_server}{REQUESTS}/{outcome.id}"
    assert poll.headers["Prefer"] == "wait=30"
    assert poll.extensions["timeout"]["read"] == 30 + HELD_READ_MARGIN
    [answer] = [a for a in traffic.answers if a.request is poll]
    assert (answer.status_code, answer.headers["Preference-Applied"]) == (200, "wait=30")


async def test_a_held_service_cancellation_poll(api_server: str, caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    async with watched(api_server, caller) as (api, traffic):
        done = await api.submit_service_cancellation(service.id, wait=True, timeout=20)
    assert (done.status, done.cancelled) == ("COMPLETED", True)
    [poll] = traffic.gets()
    # The time left of the 20 s timeout, rounded down: less than the policy's 30 s.
    assert poll.headers["Prefer"] in ("wait=19", "wait=20")
    [answer] = [a for a in traffic.answers if a.request is poll]
    assert answer.status_code == 200
    assert answer.headers["Preference-Applied"] == poll.headers["Prefer"]


async def test_a_held_wait_that_times_out_asks_at_least_one_second(
    api_server: str, caller: Caller
) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    async with watched(api_server, caller) as (api, traffic):
        with pytest.raises(WaitTimeout) as raised:
            await api.cancel_appointment(appointment.id, wait=True, timeout=0.3)
    # 0.3 s left rounds down to 0, but `wait=0` would not hold: 1 s, then the timeout.
    [poll] = traffic.gets()
    assert poll.headers["Prefer"] == "wait=1"
    assert raised.value.polls == 1 and raised.value.waited >= 0.9


async def test_slow_cancellation_reports_each_poll_then_the_outcome(
    plain: AsyncClient, api_server: str, caller: Caller
) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    updates: list[PollUpdate] = []
    outcome = await plain.cancel_appointment(appointment.id, wait=True, on_poll=updates.append)
    assert outcome.appointment_id == appointment.id
    assert updates, "booked-slow answers 202 first"
    first = updates[0]
    assert first.location == f"{api_server}{REQUESTS}/{outcome.id}"
    assert first.polls == 1 and 0 <= first.elapsed < 1
    # Retry-After (1: submitted a moment ago) is a floor, exceeded by at most the 20 % spread.
    assert 1.0 <= first.next_delay <= 1.2
    assert [u.polls for u in updates] == list(range(1, len(updates) + 1))


async def test_wait_timeout_while_still_in_progress(plain: AsyncClient, caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as raised:
        await plain.cancel_appointment(appointment.id, wait=True, timeout=0.3)
    assert time.monotonic() - started < 1.5
    timeout = raised.value
    assert timeout.waited >= 0.3 and timeout.polls >= 1
    assert re.search(rf"{REQUESTS}/\d+$", timeout.location)
    outcome = await plain.wait_appointment_cancellation(timeout.location)
    assert outcome.appointment_id == appointment.id


async def test_one_look_in_progress_then_wait_by_location_or_id(
    api: AsyncClient, caller: Caller
) -> None:
    appointment = await caller.appointment(scenarios.BOOKED_SLOW)
    accepted = await api.cancel_appointment(appointment.id)
    look = await api.appointment_cancellation(accepted.location)
    # Submitted a moment ago: the outcome is likely within a second.
    assert look == InProgress(location=accepted.location, retry_after=1.0)
    outcome = await api.wait_appointment_cancellation(accepted.location)
    assert (outcome.id, outcome.appointment_id) == (location_id(accepted.location), appointment.id)
    by_id = await api.appointment_cancellation(outcome.id)
    assert isinstance(by_id, AppointmentCancellation) and by_id.raw == outcome.raw
    relative = accepted.location.removeprefix(api.base_url)
    assert relative.startswith("/api/")
    assert await api.appointment_cancellation(relative) == by_id
    assert await api.wait_appointment_cancellation(outcome.id) == by_id


REFUSALS = [
    (scenarios.COMPLETE, "constraints.appointment.not.booked", "Appointment", "status"),
    (
        scenarios.CANCELLATION_IN_PROGRESS,
        "constraints.appointment-cancellation.in.progress",
        "AppointmentCancellation",
        "status",
    ),
    (
        scenarios.PENDING_CANCELLATION,
        "constraints.appointment.not.cancellable",
        "Appointment",
        "nbnInternalAppointmentId",
    ),
    (
        scenarios.PAST_PONR,
        "constraints.appointment.not.cancellable",
        "Appointment",
        "nbnInternalAppointmentId",
    ),
]


@pytest.mark.parametrize(("scenario", "code", "object_", "field"), REFUSALS)
async def test_refusals_are_connect_errors_with_every_sub_error_field(
    api: AsyncClient, caller: Caller, scenario: str, code: str, object_: str, field: str
) -> None:
    appointment = await caller.appointment(scenario)
    with pytest.raises(ConnectApiError) as raised:
        await api.cancel_appointment(appointment.id, wait=True)
    error = raised.value
    assert (error.status, error.http_status_code, error.type, error.code) == (
        422, 422, "client.validation", "validation",
    )  # fmt: skip
    assert error.error_message == "Validation error" and error.timestamp
    assert error.refused and not error.not_found
    [sub] = error.api_sub_errors
    assert (sub.code, sub.object, sub.field) == (code, object_, field)
    rejected = error.body["apiSubErrors"][0]["rejectedValue"]
    assert rejected is not None and sub.rejected_value == rejected
    assert sub.message == error.body["apiSubErrors"][0]["message"]
    assert error.headers["content-type"] == "application/json"


async def test_not_booked_refusal_names_the_rejected_status(
    api: AsyncClient, caller: Caller
) -> None:
    appointment = await caller.appointment(scenarios.COMPLETE)
    with pytest.raises(ConnectApiError) as raised:
        await api.cancel_appointment(appointment.id)
    assert raised.value.api_sub_errors == [
        SubError(
            code="constraints.appointment.not.booked",
            message=f"Appointment with id {appointment.id} cannot be cancelled as it is not booked",
            object="Appointment",
            field="status",
            rejected_value="complete",
        )
    ]


async def test_failure_in_processing_is_raised_by_the_wait(
    api: AsyncClient, caller: Caller
) -> None:
    appointment = await caller.appointment(scenarios.FAILS_IN_PROCESSING)
    with pytest.raises(ConnectApiError) as raised:
        await api.cancel_appointment(appointment.id, wait=True)
    error = raised.value
    assert (error.status, error.code) == (422, "validation")
    [sub] = error.api_sub_errors
    assert sub.code == "constraints.appointment-cancellation.failed"
    assert (sub.object, sub.field, sub.rejected_value) == (
        "AppointmentCancellation", "status", "FAILED",
    )  # fmt: skip
    assert "cPoNR" in sub.message


async def test_upstream_unavailable_is_502_remote_call_error(
    api: AsyncClient, caller: Caller
) -> None:
    appointment = await caller.appointment(scenarios.UPSTREAM_UNAVAILABLE)
    with pytest.raises(ConnectApiError) as raised:
        await api.cancel_appointment(appointment.id)
    error = raised.value
    assert (error.status, error.type, error.code) == (502, "remote.call", "remote.call.error")
    assert error.api_sub_errors == [] and not error.refused and not error.not_found


async def test_another_tenants_appointment_is_not_found(
    api: AsyncClient, caller: Caller, other_caller: Caller, api_server: str
) -> None:
    theirs = await other_caller.appointment(scenarios.BOOKED)
    with pytest.raises(ConnectApiError) as raised:
        await api.cancel_appointment(theirs.id)
    error = raised.value
    assert error.not_found and (error.status, error.code) == (404, "resource.not.found")
    assert error.error_message == f"Resource with id {theirs.id} not found"
    async with client_for(api_server, other_caller) as owner:
        accepted = await owner.cancel_appointment(theirs.id)
    with pytest.raises(ConnectApiError) as looked:
        await api.appointment_cancellation(accepted.location)
    assert looked.value.not_found


async def test_unsupported_version_is_400(api: AsyncClient, caller: Caller) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    with pytest.raises(ConnectApiError) as raised:
        await api.cancel_appointment(appointment.id, version=99)
    error = raised.value
    assert (error.status, error.code) == (400, "unsupported.api.version") and error.refused
    assert "8" in error.error_message
    with pytest.raises(ConnectApiError) as looked:
        await api.appointment_cancellation(1, version=99)
    assert looked.value.status == 400


async def test_an_in_flight_idempotency_key_is_retried_until_taken_over(
    api: AsyncClient, caller: Caller
) -> None:
    """409 `idempotency.key.in.progress` + Retry-After 1 is retried with the same key."""
    appointment = await caller.appointment(scenarios.BOOKED)
    key = str(uuid.uuid4())
    body = json.dumps({"appointmentId": appointment.id}, separators=(",", ":")).encode()
    # The "first request" dies: its lock lapses before the client's retry.
    await hold_key(caller, key, body, timedelta(seconds=0.5))
    answers: list[tuple[int, str | None]] = []

    async def record(response: httpx.Response) -> None:
        if response.request.url.path == REQUEST:
            answers.append((response.status_code, response.request.headers["Idempotency-Key"]))

    http = httpx.AsyncClient(event_hooks={"response": [record]})
    async with client_for(api.base_url, caller, http) as client, http:
        accepted = await client.cancel_appointment(appointment.id, idempotency_key=key)
    assert accepted.status == 201 and accepted.idempotency_key == key
    assert not accepted.replayed
    assert answers == [(409, key), (201, key)]


# --- service cancellations --------------------------------------------------------------


async def test_request_without_wait_is_201_at_the_services_location(
    api: AsyncClient, api_server: str, caller: Caller
) -> None:
    service = await caller.service(sc.ACTIVE)
    accepted = await api.request_service_cancellation(
        service.id, sydney_today() + timedelta(days=3)
    )
    assert accepted.status == 201 and not accepted.replayed
    assert accepted.location == f"{api_server}{SERVICE_REQUESTS}/{service.id}"


async def test_request_with_wait_is_requested_for_the_date(
    api: AsyncClient, caller: Caller
) -> None:
    service = await caller.service(sc.ACTIVE)
    day = sydney_today() + timedelta(days=3)
    cancellation = await api.request_service_cancellation(service.id, day, wait=True)
    assert isinstance(cancellation, ServiceCancellation)
    assert (cancellation.service_id, cancellation.status) == (service.id, "REQUESTED")
    assert cancellation.request_date == day and cancellation.requested_on is not None
    assert (cancellation.requested_by_name, cancellation.requested_by_email) == (NAME, EMAIL)
    assert cancellation.can_abort_cancellation and cancellation.can_reschedule_cancellation
    assert not cancellation.can_request_cancellation and not cancellation.cancelled


async def test_reschedule_is_204_and_moves_the_date(api: AsyncClient, caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    day = sydney_today() + timedelta(days=5)
    accepted = await api.reschedule_service_cancellation(service.id, day.isoformat())
    assert accepted.status == 204 and accepted.location.endswith(f"{SERVICE_REQUESTS}/{service.id}")
    look = await api.service_cancellation(service.id)
    assert isinstance(look, ServiceCancellation) and look.request_date == day
    again = await api.reschedule_service_cancellation(
        service.id, day + timedelta(days=1), wait=True
    )
    assert again.request_date == day + timedelta(days=1) and again.status == "REQUESTED"


async def test_abort_with_wait_is_aborted(api: AsyncClient, caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_IN_ERROR)
    aborted = await api.abort_service_cancellation(service.id, wait=True)
    assert aborted.status == "ABORTED" and aborted.aborted_on is not None
    assert (aborted.aborted_by_name, aborted.aborted_by_email) == (NAME, EMAIL)
    assert aborted.can_request_cancellation and not aborted.can_abort_cancellation


async def test_abort_without_wait_is_204(api: AsyncClient, caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    accepted = await api.abort_service_cancellation(service.id)
    assert accepted.status == 204
    look = await api.service_cancellation(accepted.location)
    assert isinstance(look, ServiceCancellation) and look.status == "ABORTED"


async def test_sandbox_submit_with_wait_completes_the_cancellation(
    api: AsyncClient, caller: Caller
) -> None:
    service = await caller.service(sc.CANCELLATION_REQUESTED)
    done = await api.submit_service_cancellation(service.id, wait=True, timeout=20)
    assert (done.status, done.cancelled) == ("COMPLETED", True)
    assert done.cancelled_on is not None
    shown = await api.service(service.id)
    assert shown.status == "cancelled" and not shown.eligible_for_cancellation
    assert shown.cancelled_on is not None
    assert shown.service_cancellation.status == "COMPLETED"


async def test_rejected_by_the_nbn_is_raised_by_the_wait(api: AsyncClient, caller: Caller) -> None:
    service = await caller.service(sc.REJECTED_BY_NBN)
    await api.request_service_cancellation(service.id, sydney_today() + timedelta(days=2))
    with pytest.raises(ConnectApiError) as raised:
        await api.submit_service_cancellation(service.id, wait=True, timeout=20)
    error = raised.value
    assert (error.status, error.code) == (422, "validation")
    [sub] = error.api_sub_errors
    assert (sub.code, sub.rejected_value) == (
        "constraints.service-cancellation.rejected",
        "REJECTED",
    )
    assert service.nbn_service_id in sub.message


async def test_service_and_its_empty_cancellation(api: AsyncClient, caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    shown = await api.service(service.id)
    assert (shown.id, shown.nbn_service_id, shown.status) == (
        service.id, service.nbn_service_id, "active",
    )  # fmt: skip
    assert shown.eligible_for_cancellation and shown.cancelled_on is None
    cancellation = await api.service_cancellation(service.id)
    assert cancellation == shown.service_cancellation
    assert isinstance(cancellation, ServiceCancellation)
    assert cancellation.status is None and cancellation.request_date is None
    assert cancellation.can_request_cancellation and not cancellation.cancelled


async def test_a_cancellation_at_the_nbn_is_in_progress(api: AsyncClient, caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_IN_PROGRESS)
    look = await api.service_cancellation(service.id)
    # With the nbn for days: the longest Retry-After the server gives (5 s by default).
    assert isinstance(look, InProgress) and look.retry_after == 5.0
    with pytest.raises(WaitTimeout):
        await api.wait_service_cancellation(service.id, timeout=0.2)


async def test_not_eligible_request_is_422_with_its_sub_error(
    api: AsyncClient, caller: Caller
) -> None:
    service = await caller.service(sc.NOT_ELIGIBLE)
    with pytest.raises(ConnectApiError) as raised:
        await api.request_service_cancellation(
            service.id, sydney_today() + timedelta(days=3), wait=True
        )
    assert (raised.value.status, raised.value.code) == (422, "validation")
    assert raised.value.api_sub_errors == [
        SubError(
            code="constraints.service.not.eligible.for.cancellation",
            message="The Service is not eligible for cancellation",
            object="Service",
            field="status",
            rejected_value=True,
        )
    ]


async def test_past_date_is_422_method_argument_not_valid(api: AsyncClient, caller: Caller) -> None:
    service = await caller.service(sc.ACTIVE)
    yesterday = (sydney_today() - timedelta(days=1)).isoformat()
    with pytest.raises(ConnectApiError) as raised:
        await api.request_service_cancellation(service.id, yesterday)
    error = raised.value
    assert (error.status, error.code) == (422, "method.argument.not.valid")
    [sub] = error.api_sub_errors
    assert (sub.code, sub.field, sub.object) == (
        "constraints.local.date.future.or.present",
        "cancellationDate",
        "connectServiceCancellationRequestCommand",
    )
    assert sub.message == "must not be null or in the past" and sub.rejected_value == yesterday


async def test_version_8_on_a_service_cancellation_endpoint_is_400(
    api: AsyncClient, caller: Caller
) -> None:
    service = await caller.service(sc.ACTIVE)
    with pytest.raises(ConnectApiError) as raised:
        await api.request_service_cancellation(service.id, sydney_today(), version=8)
    assert (raised.value.status, raised.value.code) == (400, "unsupported.api.version")
    with pytest.raises(ConnectApiError) as looked:
        await api.service_cancellation(service.id, version=8)
    assert looked.value.status == 400
    assert (await api.service(service.id, version=8)).id == service.id  # services serve 1..8


async def test_another_tenants_service_is_not_found(api: AsyncClient, other_caller: Caller) -> None:
    theirs = await other_caller.service(sc.CANCELLATION_REQUESTED)
    with pytest.raises(ConnectApiError) as shown:
        await api.service(theirs.id)
    with pytest.raises(ConnectApiError) as looked:
        await api.service_cancellation(theirs.id)
    with pytest.raises(ConnectApiError) as aborted:
        await api.abort_service_cancellation(theirs.id)
    assert all(e.value.not_found for e in (shown, looked, aborted))


# --- the UX API -------------------------------------------------------------------------


async def test_ux_installation_cancel_with_the_billing_account(
    ux: AsyncClient, channel: Channel
) -> None:
    appointment = await channel.appointment(csg.INSTALLATION)
    correlation = str(uuid.uuid4())
    done = await cancel_installation(ux, appointment, correlation)
    assert (done.id, done.status, done.correlation_id) == (
        appointment.appointment_id, "cancelled", correlation,
    )  # fmt: skip
    sim = await channel.sim(appointment)
    assert (sim.status, sim.calls, sim.last_correlation_id) == ("cancelled", 1, correlation)


async def test_ux_technical_cancel_makes_up_a_correlation_id(
    ux: AsyncClient, channel: Channel
) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    done = await ux.cancel_ux_appointment(
        "PR", appointment.appointment_id, order_class="T", reason="CA"
    )
    assert (done.id, done.status) == (appointment.appointment_id, "cancelled")
    assert UUID.match(done.correlation_id)
    assert (await channel.sim(appointment)).last_correlation_id == done.correlation_id


async def test_ux_already_cancelled_is_200_again(ux: AsyncClient, channel: Channel) -> None:
    appointment = await channel.appointment(csg.ALREADY_CANCELLED)
    done = await cancel_installation(ux, appointment)
    assert done.status == "cancelled"
    assert (await channel.sim(appointment)).calls == 0


async def test_ux_completed_is_400_saying_why(ux: AsyncClient, channel: Channel) -> None:
    appointment = await channel.appointment(csg.COMPLETED)
    correlation = str(uuid.uuid4())
    with pytest.raises(UxApiError) as raised:
        await cancel_installation(ux, appointment, correlation)
    error = raised.value
    assert error.status == 400 and error.refused and error.correlation_id == correlation
    [item] = error.errors
    assert item.code == 400 and item.message == "The request is invalid or not properly formed."
    assert item.description == (
        f"Appointment {appointment.appointment_id} is completed and cannot be cancelled."
    )


async def test_ux_csg_refusal_is_400_with_its_reason(ux: AsyncClient, channel: Channel) -> None:
    appointment = await channel.appointment(csg.CSG_REFUSES)
    with pytest.raises(UxApiError) as raised:
        await cancel_installation(ux, appointment)
    assert raised.value.status == 400
    assert "technician has already been dispatched" in raised.value.errors[0].description


async def test_ux_invalid_body_is_400_naming_the_field(ux: AsyncClient, channel: Channel) -> None:
    appointment = await channel.appointment(csg.INSTALLATION)
    with pytest.raises(UxApiError) as raised:  # S without its billing account
        await ux.cancel_ux_appointment("PR", appointment.appointment_id, order_class="S")
    assert raised.value.status == 400 and "'relatedEntity'" in raised.value.errors[0].description


async def test_ux_unknown_appointment_is_404(ux: AsyncClient) -> None:
    with pytest.raises(UxApiError) as raised:
        await ux.cancel_ux_appointment("PR", "1200999999999999", order_class="T")
    assert raised.value.not_found and raised.value.errors[0].code == 404


async def test_ux_bad_channel_credentials_are_401(api_server: str, channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    async with AsyncClient(
        api_server, ux_client_id=channel.client_id, ux_client_secret=channel.client_secret + "x"
    ) as ux:
        with pytest.raises(UxApiError) as raised:
            await ux.cancel_ux_appointment("PR", appointment.appointment_id, order_class="T")
    assert raised.value.status == 401 and raised.value.errors[0].code == 401
    assert (await channel.sim(appointment)).calls == 0


async def test_ux_csg_unavailable_is_500(ux: AsyncClient, channel: Channel) -> None:
    appointment = await channel.appointment(csg.CSG_UNAVAILABLE)
    correlation = str(uuid.uuid4())
    with pytest.raises(UxApiError) as raised:
        await cancel_installation(ux, appointment, correlation)
    error = raised.value
    assert error.status == 500 and not error.refused and error.correlation_id == correlation
    assert error.errors[0].message == "Internal Server Error"


async def test_ux_unconfigured_business_unit_is_501(ux: AsyncClient, channel: Channel) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    with pytest.raises(UxApiError) as raised:
        await ux.cancel_ux_appointment("ZZ", appointment.appointment_id, order_class="T")
    assert raised.value.status == 501
    assert raised.value.errors[0].description == (
        "Operation PATCH /appointment/{id} for Business Id: ZZ not implemented"
    )


async def test_ux_without_channel_credentials_is_a_value_error(
    api: AsyncClient, channel: Channel
) -> None:
    appointment = await channel.appointment(csg.TECHNICAL)
    with pytest.raises(ValueError, match="ux_client_id"):
        await api.cancel_ux_appointment("PR", appointment.appointment_id, order_class="T")
    assert (await channel.sim(appointment)).calls == 0


# --- webhooks ---------------------------------------------------------------------------


async def test_subscription_lifecycle(api: AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    created = await api.create_subscription(
        url, ["appointment.cancelled", "service.cancelled"], description="ops"
    )
    assert created.secret is not None and created.secret.startswith("whsec_")
    assert (created.url, created.events, created.description) == (
        url, ["appointment.cancelled", "service.cancelled"], "ops",
    )  # fmt: skip
    assert created.enabled and created.disabled_reason is None and created.created_at
    [listed] = await api.subscriptions()
    assert listed.id == created.id and listed.secret is None
    shown = await api.subscription(created.id)
    assert (shown.id, shown.url, shown.secret) == (created.id, url, None)
    updated = await api.update_subscription(
        created.id, enabled=False, description="paused", events=["service.cancelled"]
    )
    assert (updated.enabled, updated.description, updated.events) == (
        False, "paused", ["service.cancelled"],
    )  # fmt: skip
    assert (await api.subscription(created.id)).url == url  # not given, not changed
    await api.delete_subscription(created.id)
    with pytest.raises(ConnectApiError) as raised:
        await api.subscription(created.id)
    assert raised.value.not_found
    with pytest.raises(ConnectApiError) as again:
        await api.delete_subscription(created.id)
    assert again.value.not_found
    assert await api.subscriptions() == []


async def test_subscription_create_replays_with_its_key(api: AsyncClient) -> None:
    key = str(uuid.uuid4())
    url = f"http://127.0.0.1:{free_port()}/hook"
    first = await api.create_subscription(url, ["service.cancelled"], idempotency_key=key)
    again = await api.create_subscription(url, ["service.cancelled"], idempotency_key=key)
    assert (again.id, again.secret) == (first.id, first.secret)
    assert len(await api.subscriptions()) == 1


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("http://127.0.0.1:9/hook", ["no.such.event"]),
        ("ftp://example.com/hook", ["service.cancelled"]),
    ],
)
async def test_refused_subscription_is_422(api: AsyncClient, url: str, events: list[str]) -> None:
    with pytest.raises(ConnectApiError) as raised:
        await api.create_subscription(url, events)
    assert raised.value.status == 422 and raised.value.refused


async def test_another_tenants_subscription_is_not_found(
    api: AsyncClient, api_server: str, other_caller: Caller
) -> None:
    async with client_for(api_server, other_caller) as owner:
        theirs = await owner.create_subscription("http://127.0.0.1:9/hook", ["service.cancelled"])
    for call in (api.subscription, api.deliveries, api.rotate_secret, api.send_test_event):
        with pytest.raises(ConnectApiError) as raised:
            await call(theirs.id)
        assert raised.value.not_found, call


async def delivered(api: AsyncClient, subscription_id: int, count: int) -> list[Delivery]:
    """The deliveries once `count` attempts are logged and all succeeded (bounded: 10 s)."""

    def done(deliveries: list[Delivery]) -> bool:
        attempts = sum(len(d.attempts) for d in deliveries)
        return attempts >= count and all(d.status == "succeeded" for d in deliveries)

    return await apoll_until(
        lambda: api.deliveries(subscription_id),
        done,
        timeout=10,
        what=f"{count} delivery attempts of subscription {subscription_id}",
    )


async def test_test_event_verifies_is_logged_rotated_and_redelivered(api: AsyncClient) -> None:
    with receiving() as receiver:
        subscription = await api.create_subscription(receiver.url, ["appointment.cancelled"])
        secret = subscription.secret
        assert secret is not None
        sent = await api.send_test_event(subscription.id)
        assert (sent.event_type, sent.status) == ("webhook.test", "pending")
        [first] = await receiver.arrived(1)
        payload = verify_webhook(secret, first.body, first.headers)
        assert payload == json.loads(first.body)
        assert first.headers["webhook-id"] == sent.event_id
        assert first.headers["z-event-type"] == "webhook.test.event"
        with pytest.raises(WebhookVerificationError):
            verify_webhook(secret, first.body + b" ", first.headers)

        [entry] = await delivered(api, subscription.id, 1)
        assert (entry.id, entry.event_id, entry.status) == (sent.id, sent.event_id, "succeeded")
        [attempt] = entry.attempts
        assert attempt.status_code == 200 and attempt.error is None
        assert attempt.latency_ms is not None and attempt.latency_ms >= 0 and attempt.attempted_at

        rotated = await api.rotate_secret(subscription.id)
        assert rotated.id == subscription.id and rotated.secret is not None
        assert rotated.secret.startswith("whsec_") and rotated.secret != secret
        again = await api.redeliver(subscription.id, entry.id)
        assert isinstance(again, Delivery) and again.event_id == sent.event_id
        assert again.status == "pending"
        second = (await receiver.arrived(2))[1]
    assert second.headers["webhook-id"] == sent.event_id
    assert len(second.headers["webhook-signature"].split(" ")) == 2
    assert verify_webhook(rotated.secret, second.body, second.headers) == payload
    assert verify_webhook(secret, second.body, second.headers) == payload
    assert verify_webhook([rotated.secret, secret], second.body, second.headers) == payload


async def test_redeliver_while_disabled_is_422(api: AsyncClient) -> None:
    with receiving() as receiver:
        subscription = await api.create_subscription(receiver.url, ["service.cancelled"])
        sent = await api.send_test_event(subscription.id)
        await receiver.arrived(1)
        await api.update_subscription(subscription.id, enabled=False)
        with pytest.raises(ConnectApiError) as raised:
            await api.redeliver(subscription.id, sent.id)
    assert raised.value.status == 422 and raised.value.refused
    with pytest.raises(ConnectApiError) as unknown:
        await api.redeliver(subscription.id, 2_000_000_000)
    assert unknown.value.not_found and unknown.value.code == "resource.not.found"


# --- transport and protocol -------------------------------------------------------------


async def test_unreachable_server_is_a_transport_error_after_the_retries() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    async with AsyncClient(base, client_id="cg_x", client_secret="s", retries=1) as api:
        with pytest.raises(TransportError, match="POST"):
            await api.cancel_appointment(1)
    assert time.monotonic() - started < 5


async def test_transport_failures_are_retried_then_raised() -> None:
    attempts: list[httpx.Request] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    http = recording(attempts, refuse)
    async with (
        http,
        AsyncClient(
            "http://cg.test", client_id="c", client_secret="s", retries=2, http=http
        ) as api,
    ):
        with pytest.raises(TransportError, match="ConnectError") as raised:
            await api.token()
    assert len(attempts) == 3
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def recording(
    requests: list[httpx.Request], answer: Callable[[httpx.Request], httpx.Response]
) -> httpx.AsyncClient:
    """An httpx client whose transport records each request and answers as told."""

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return answer(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


TOKEN_BODY = {"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 3000}


@asynccontextmanager
async def mocked(
    answer: Callable[[httpx.Request], httpx.Response],
    base: str = "http://cg.test",
    poll: PollPolicy | None = None,
) -> AsyncIterator[tuple[AsyncClient, list[httpx.Request]]]:
    """A client of base over a recording mock transport: the token request gets a token, every
    other request answer(request). Yields the client and the requests sent (token included)."""
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=TOKEN_BODY)
        return answer(request)

    http = recording(sent, handle)
    async with (
        http,
        AsyncClient(base, client_id="c", client_secret="s", http=http, poll=poll) as api,
    ):
        yield api, sent


@pytest.mark.parametrize(
    "target",
    [
        "http://evil.example/x",
        "https://127.0.0.1/api/connect/orders/appointment-cancellations/requests/1",
        "//evil.example/api/connect/orders/appointment-cancellations/requests/1",
    ],
)
async def test_a_foreign_location_is_refused_before_any_request(
    api_server: str, target: str
) -> None:
    async with mocked(lambda request: httpx.Response(500), base=api_server) as (api, sent):
        with pytest.raises(ProtocolError):
            await api.appointment_cancellation(target)
        with pytest.raises(ProtocolError):
            await api.wait_appointment_cancellation(target)
        with pytest.raises(ProtocolError):
            await api.service_cancellation(target)
        with pytest.raises(ProtocolError):
            await api.wait_service_cancellation(target)
    assert sent == []


async def test_a_foreign_location_header_is_not_followed() -> None:
    """The bearer token never leaves the server's origin, whatever Location says."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, headers={"Location": "https://evil.example/requests/1"})

    async with mocked(answer) as (api, sent):
        with pytest.raises(ProtocolError, match=r"evil\.example"):
            await api.cancel_appointment(1, wait=True)
    assert [r.url.host for r in sent] == ["cg.test", "cg.test"]


async def test_a_command_answer_without_location_is_a_protocol_error() -> None:
    async with mocked(lambda request: httpx.Response(204)) as (api, _):
        with pytest.raises(ProtocolError, match="Location"):
            await api.abort_service_cancellation(1)


async def test_503_is_retried_with_the_same_idempotency_key() -> None:
    statuses = [503, 201]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            statuses.pop(0), headers={"Retry-After": "0", "Location": f"{REQUESTS}/7"}
        )

    async with mocked(answer) as (api, sent):
        accepted = await api.cancel_appointment(1)
    posts = [r for r in sent if r.url.path == REQUEST]
    assert len(posts) == 2
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert accepted.location == f"http://cg.test{REQUESTS}/7"
    assert accepted.idempotency_key == posts[0].headers["Idempotency-Key"]


async def test_a_long_retry_after_is_answered_not_waited() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "60"}, text="busy")

    started = time.monotonic()
    async with mocked(answer) as (api, sent):
        with pytest.raises(ApiError) as raised:
            await api.cancel_appointment(1)
    assert time.monotonic() - started < 1
    assert raised.value.status == 503 and raised.value.body == "busy"
    assert not isinstance(raised.value, ConnectApiError)
    assert len([r for r in sent if r.url.path == REQUEST]) == 1


# --- long polling, against mocked servers -----------------------------------------------

CANCELLED = {"id": 7, "appointmentId": 1, "nbnAppointmentId": "APT1", "cancelledOn": None}


def answering(*answers: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    """A mock server giving these answers in turn, one per request."""
    queue = list(answers)
    return lambda request: queue.pop(0)


def polls_of(sent: list[httpx.Request]) -> list[httpx.Request]:
    return [request for request in sent if request.method == "GET"]


async def test_a_server_that_does_not_hold_gets_todays_pauses() -> None:
    """An older or busy server answers 202 at once, without Preference-Applied: Retry-After
    (with its spread), then backoff, exactly as without long polling."""
    server = answering(
        httpx.Response(202, headers={"Retry-After": "1"}),
        httpx.Response(202),
        httpx.Response(200, json=CANCELLED),
    )
    updates: list[PollUpdate] = []
    async with mocked(server) as (api, sent):
        outcome = await api.wait_appointment_cancellation(7, on_poll=updates.append)
    assert outcome.id == 7
    assert [u.polls for u in updates] == [1, 2]
    assert 1.0 <= updates[0].next_delay <= 1.2
    # The second pause is backoff: half to all of the second step (0.5 s).
    assert 0.25 <= updates[1].next_delay <= 0.5
    # Asked each time; the server did not apply it.
    assert [r.headers["Prefer"] for r in polls_of(sent)] == ["wait=30"] * 3


async def test_after_a_held_202_the_next_poll_is_at_once() -> None:
    server = answering(
        httpx.Response(202, headers={"Retry-After": "5", "Preference-Applied": "wait=30"}),
        httpx.Response(200, json=CANCELLED),
    )
    updates: list[PollUpdate] = []
    started = time.monotonic()
    async with mocked(server) as (api, sent):
        await api.wait_appointment_cancellation(7, on_poll=updates.append)
    # The server has waited already: Retry-After (5 s) is not waited again.
    assert time.monotonic() - started < 1
    assert [(u.polls, u.next_delay) for u in updates] == [(1, MIN_POLL_DELAY)]
    [first, _] = polls_of(sent)
    # The client's own read timeout (httpx's default, 5 s) would cut a 30 s hold short.
    timeouts = first.extensions["timeout"]
    assert (timeouts["read"], timeouts["connect"]) == (30 + HELD_READ_MARGIN, 5.0)


async def test_a_server_that_claims_to_hold_but_answers_at_once_is_not_hammered() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, headers={"Preference-Applied": "wait=30"})

    async with mocked(server) as (api, sent):
        with pytest.raises(WaitTimeout) as raised:
            await api.wait_appointment_cancellation(7, timeout=0.5)
    # No faster than the floor (0.05 s): about 10 polls in 0.5 s, not thousands.
    assert 2 <= raised.value.polls == len(polls_of(sent)) <= 0.5 / MIN_POLL_DELAY + 1


async def test_with_long_polling_off_no_preference_is_sent() -> None:
    server = answering(
        httpx.Response(202, headers={"Retry-After": "0"}), httpx.Response(200, json=CANCELLED)
    )
    updates: list[PollUpdate] = []
    async with mocked(server, poll=PLAIN) as (api, sent):
        await api.wait_appointment_cancellation(7, on_poll=updates.append)
    polls = polls_of(sent)
    assert len(polls) == 2 and all("Prefer" not in request.headers for request in polls)
    assert {request.extensions["timeout"]["read"] for request in polls} == {5.0}
    assert [u.next_delay for u in updates] == [MIN_POLL_DELAY]  # Retry-After: 0, floored


async def test_one_look_asks_no_wait() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202, headers={"Retry-After": "2"})

    async with mocked(server) as (api, sent):
        look = await api.appointment_cancellation(7)
        service_look = await api.service_cancellation(5)
    assert look == InProgress(location=f"http://cg.test{REQUESTS}/7", retry_after=2.0)
    assert service_look == InProgress(
        location=f"http://cg.test{SERVICE_REQUESTS}/5", retry_after=2.0
    )
    polls = polls_of(sent)
    assert len(polls) == 2 and all("Prefer" not in request.headers for request in polls)
