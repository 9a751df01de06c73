"""The blocking `Client` against a live `cancelgate serve`: one proof per group of operations."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio

from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate_client import (
    Accepted,
    AppointmentCancellation,
    Client,
    ConnectApiError,
    InProgress,
    OAuthError,
    PollPolicy,
    PollUpdate,
    ServiceCancellation,
    TransportError,
    UxApiError,
    WaitTimeout,
)
from tests.api.conftest import Caller, Channel
from tests.support import free_port, sydney_today


@dataclass(frozen=True)
class Seeded:
    """Fresh fixtures of the caller's tenant and the channel, made before a sync test runs."""

    booked: int
    booked_in_loop: int
    booked_slow: int
    booked_slow_held: int
    complete: int
    service: int
    installation: str
    completed: str


@pytest_asyncio.fixture(loop_scope="session")
async def seeded(caller: Caller, channel: Channel) -> Seeded:
    return Seeded(
        booked=(await caller.appointment(scenarios.BOOKED)).id,
        booked_in_loop=(await caller.appointment(scenarios.BOOKED)).id,
        booked_slow=(await caller.appointment(scenarios.BOOKED_SLOW)).id,
        booked_slow_held=(await caller.appointment(scenarios.BOOKED_SLOW)).id,
        complete=(await caller.appointment(scenarios.COMPLETE)).id,
        service=(await caller.service(sc.ACTIVE)).id,
        installation=(await channel.appointment(csg.INSTALLATION)).appointment_id,
        completed=(await channel.appointment(csg.COMPLETED)).appointment_id,
    )


def connect(api_server: str, caller: Caller, poll: PollPolicy | None = None) -> Client:
    return Client(
        api_server, client_id=caller.client_id, client_secret=caller.client_secret, poll=poll
    )


def test_sync_token_is_cached_until_refresh(api_server: str, caller: Caller) -> None:
    with connect(api_server, caller) as api:
        assert api.base_url == api_server
        token = api.token()
        assert token.token_type == "Bearer" and api.token() is token
        assert api.token(refresh=True) is not token


def test_sync_wrong_secret_is_oauth_error(api_server: str, caller: Caller) -> None:
    with (
        Client(api_server, client_id=caller.client_id, client_secret="wrong-secret") as api,
        pytest.raises(OAuthError) as raised,
    ):
        api.token()
    assert (raised.value.status, raised.value.error) == (401, "invalid_client")


def test_sync_cancel_appointment(api_server: str, caller: Caller, seeded: Seeded) -> None:
    with connect(api_server, caller) as api:
        outcome = api.cancel_appointment(seeded.booked, wait=True)
        assert isinstance(outcome, AppointmentCancellation)
        assert outcome.appointment_id == seeded.booked
        assert api.appointment_cancellation(outcome.id) == outcome


def test_sync_slow_cancellation_is_one_held_poll(
    api_server: str, caller: Caller, seeded: Seeded
) -> None:
    """Long polling (the default) holds the poll until the outcome: no 202, so no pause."""
    updates: list[PollUpdate] = []
    with connect(api_server, caller) as api:
        outcome = api.cancel_appointment(seeded.booked_slow_held, wait=True, on_poll=updates.append)
    assert outcome.appointment_id == seeded.booked_slow_held
    assert updates == []


def test_sync_slow_cancellation_look_poll_and_timeout(
    api_server: str, caller: Caller, seeded: Seeded
) -> None:
    # Long polling off: the 202s and their pauses are what this checks.
    with connect(api_server, caller, PollPolicy(long_poll=0)) as api:
        accepted = api.cancel_appointment(seeded.booked_slow)
        assert isinstance(accepted, Accepted) and accepted.status == 201
        look = api.appointment_cancellation(accepted.location)
        # Submitted a moment ago: the outcome is likely within a second.
        assert isinstance(look, InProgress) and look.retry_after == 1.0
        with pytest.raises(WaitTimeout):
            api.wait_appointment_cancellation(accepted.location, timeout=0.2)
        updates: list[PollUpdate] = []
        outcome = api.wait_appointment_cancellation(accepted.location, on_poll=updates.append)
    assert outcome.appointment_id == seeded.booked_slow and updates


def test_sync_refusal_is_raised(api_server: str, caller: Caller, seeded: Seeded) -> None:
    with connect(api_server, caller) as api, pytest.raises(ConnectApiError) as raised:
        api.cancel_appointment(seeded.complete, wait=True)
    error = raised.value
    assert (error.status, error.code) == (422, "validation") and error.refused
    [sub] = error.api_sub_errors
    assert (sub.code, sub.rejected_value) == ("constraints.appointment.not.booked", "complete")


def test_sync_service_request_then_abort(api_server: str, caller: Caller, seeded: Seeded) -> None:
    day = sydney_today() + timedelta(days=4)
    with connect(api_server, caller) as api:
        requested = api.request_service_cancellation(seeded.service, day, wait=True)
        assert isinstance(requested, ServiceCancellation)
        assert (requested.status, requested.request_date) == ("REQUESTED", day)
        moved = api.reschedule_service_cancellation(seeded.service, day + timedelta(days=1))
        assert moved.status == 204
        aborted = api.abort_service_cancellation(seeded.service, wait=True)
        assert aborted.status == "ABORTED" and aborted.request_date == day + timedelta(days=1)
        assert api.service(seeded.service).service_cancellation.status == "ABORTED"
        assert api.service_cancellation(seeded.service) == aborted
        with pytest.raises(ConnectApiError) as raised:
            api.submit_service_cancellation(seeded.service)
    assert raised.value.api_sub_errors[0].code == "constraints.service-cancellation.not.requested"


def test_sync_ux_cancel(api_server: str, channel: Channel, seeded: Seeded) -> None:
    correlation = str(uuid.uuid4())
    with Client(
        api_server, ux_client_id=channel.client_id, ux_client_secret=channel.client_secret
    ) as ux:
        done = ux.cancel_ux_appointment(
            "PR",
            seeded.installation,
            order_class="S",
            billing_account=csg.SEED_BILLING_ACCOUNT,
            correlation_id=correlation,
        )
        assert (done.id, done.status, done.correlation_id) == (
            seeded.installation, "cancelled", correlation,
        )  # fmt: skip
        with pytest.raises(UxApiError) as raised:
            ux.cancel_ux_appointment(
                "PR", seeded.completed, order_class="S", billing_account=csg.SEED_BILLING_ACCOUNT
            )
    assert raised.value.status == 400 and "completed" in raised.value.errors[0].description


def test_sync_webhook_subscriptions(api_server: str, caller: Caller) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with connect(api_server, caller) as api:
        created = api.create_subscription(url, ["service.cancelled"], description="sync")
        assert created.secret is not None and created.secret.startswith("whsec_")
        assert [s.id for s in api.subscriptions()] == [created.id]
        assert api.update_subscription(created.id, enabled=False).enabled is False
        assert api.subscription(created.id).description == "sync"
        rotated = api.rotate_secret(created.id)
        assert rotated.secret is not None and rotated.secret != created.secret
        assert api.deliveries(created.id) == []
        api.delete_subscription(created.id)
        assert api.subscriptions() == []
        with pytest.raises(ConnectApiError) as raised:
            api.subscription(created.id)
    assert raised.value.not_found


def test_sync_close_without_context_manager(api_server: str, caller: Caller) -> None:
    api = connect(api_server, caller)
    try:
        assert api.token().expires_in == 3000
    finally:
        api.close()


def test_sync_unreachable_server_is_a_transport_error() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    with (
        Client(base, client_id="cg_x", client_secret="s", retries=0) as api,
        pytest.raises(TransportError),
    ):
        api.token()


def test_sync_close_twice_closes_the_pool_once_and_is_harmless(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`close()` inside a `with` block (then `__exit__`), and once more after it, does not fail,
    like httpx's and files': the first close closes the connection pool, the others do nothing."""
    closed: list[httpx.Client] = []
    close = httpx.Client.close

    def counted_close(self: httpx.Client) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(httpx.Client, "close", counted_close)
    with Client(f"http://127.0.0.1:{free_port()}") as api:
        api.close()
        assert len(closed) == 1
    api.close()
    assert len(closed) == 1


# --- no event loop under the blocking client ---------------------------------------------


async def test_sync_client_on_a_running_event_loops_thread(
    api_server: str, caller: Caller, seeded: Seeded
) -> None:
    """Called on the thread of a running event loop (a notebook cell, an async framework calling
    a helper): it blocks that thread for its I/O and needs no loop of its own."""
    asyncio.get_running_loop()  # this test runs on the loop's own thread
    with connect(api_server, caller) as api:
        outcome = api.cancel_appointment(seeded.booked_in_loop, wait=True)
        assert outcome.appointment_id == seeded.booked_in_loop
        assert api.appointment_cancellation(outcome.id) == outcome
        assert api.subscriptions() == []


THREADS = 8


@pytest_asyncio.fixture(loop_scope="session")
async def eight_booked(caller: Caller) -> list[int]:
    return [(await caller.appointment(scenarios.BOOKED)).id for _ in range(THREADS)]


def test_one_sync_client_shared_by_eight_threads(
    api_server: str, caller: Caller, eight_booked: list[int]
) -> None:
    """Eight threads call one `Client` at the same moment: each gets its own outcome, and the
    token is fetched once for all of them (under the client's lock)."""
    paths: list[str] = []
    hooks = {"response": [lambda response: paths.append(response.request.url.path)]}
    start = threading.Barrier(THREADS)

    def cancel(appointment_id: int) -> AppointmentCancellation:
        start.wait(timeout=30)
        return api.cancel_appointment(appointment_id, wait=True, timeout=60)

    with (
        httpx.Client(event_hooks=hooks) as http,
        Client(
            api_server, client_id=caller.client_id, client_secret=caller.client_secret, http=http
        ) as api,
        ThreadPoolExecutor(THREADS) as pool,
    ):
        outcomes = list(pool.map(cancel, eight_booked))
        tokens = list(pool.map(lambda _: api.token(), range(THREADS)))
    assert [outcome.appointment_id for outcome in outcomes] == eight_booked
    assert len({outcome.id for outcome in outcomes}) == THREADS
    assert paths.count("/oauth/token") == 1
    assert len({token.access_token for token in tokens}) == 1
