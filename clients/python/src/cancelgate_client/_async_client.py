"""The clients' driver: every public operation, and the I/O under them.

`_async_client.py` is the one implementation of both clients: `AsyncClient` is written there,
and the blocking `Client` (`_sync_client.py`) is generated from it by
`clients/python/generate_sync.py`, which removes `async` and `await` and renames the names it
lists (`AsyncClient` → `Client`, `aclose` → `close`, …). Edit `_async_client.py`, never
`_sync_client.py`. Everything that is not I/O lives in `_base.py`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import date, datetime
from types import TracebackType
from typing import Any, Literal, Self, TypeVar, overload

import httpx

from cancelgate_client._base import (
    APPOINTMENT_CANCELLATIONS,
    APPOINTMENT_REQUEST,
    SANDBOX,
    SANDBOX_CLOCK,
    SANDBOX_SUBMIT,
    SERVICE_CANCELLATIONS,
    SERVICE_REQUEST,
    SERVICES,
    SUBSCRIPTIONS,
    BaseClient,
    OnConnection,
    OnPoll,
    clock_body,
    dated_body,
    events_path,
    expect,
    expect_empty,
    expect_list,
    given,
    new_key,
    polled,
    subscription_body,
    user_agent,
    ux_appointment_path,
    ux_sandbox_path,
)
from cancelgate_client._concurrency import AsyncLock, async_sleep
from cancelgate_client.errors import TransportError
from cancelgate_client.models import (
    Accepted,
    AppointmentCancellation,
    AppointmentFixture,
    Delivery,
    Event,
    InProgress,
    SandboxClock,
    ScenarioCatalogue,
    Service,
    ServiceCancellation,
    ServiceFixture,
    Subscription,
    Token,
    UxAppointmentFixture,
    UxCancellation,
)
from cancelgate_client.ux import cancel_body

T = TypeVar("T")


class AsyncClient(BaseClient[httpx.AsyncClient, AsyncLock]):
    """A client of one cancelgate server (or any server speaking the same APIs).

    `async with AsyncClient(base_url, client_id=…, client_secret=…) as api:`, or blocking,
    `with Client(…) as api:` (the same operations, the same arguments). One instance may be
    shared: by the tasks of its event loop (async), or by threads (blocking).
    """

    def _open(self, timeout: float) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout, headers=user_agent())

    def _new_lock(self) -> AsyncLock:
        return AsyncLock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in); again, nothing."""
        if self._closing():
            await self._http.aclose()

    # --- tokens ---------------------------------------------------------------------------

    async def token(self, *, refresh: bool = False) -> Token:
        """The cached access token, fetched anew when missing, near expiry or `refresh`."""
        async with self._token_lock:
            token = self._usable_token(refresh)
            if token is None:
                form, auth = self._token_request()
                response = await self._send("POST", self.token_url, form=form, auth=auth)
                token = self._fetched_token(response)
            return token

    # --- appointment cancellations --------------------------------------------------------

    @overload
    async def cancel_appointment(
        self, appointment_id: int, *, wait: Literal[False] = False, timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    async def cancel_appointment(
        self, appointment_id: int, *, wait: Literal[True], timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> AppointmentCancellation: ...  # fmt: skip
    async def cancel_appointment(
        self,
        appointment_id: int,
        *,
        wait: bool = False,
        timeout: float | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted | AppointmentCancellation:
        """Request an appointment's cancellation: 201 + Location, or with `wait` its outcome."""
        accepted = await self._command(
            f"{APPOINTMENT_CANCELLATIONS}/request",
            {"appointmentId": appointment_id},
            version,
            idempotency_key,
        )
        if not wait:
            return accepted
        return await self._wait(
            accepted.location, version, AppointmentCancellation.from_json, timeout, on_poll
        )

    async def appointment_cancellation(
        self, request: int | str, *, version: int | None = None
    ) -> AppointmentCancellation | InProgress:
        """One look at a request's outcome (by id or Location); a 422 outcome raises."""
        location = self._location(request, APPOINTMENT_REQUEST)
        outcome, _ = await self._poll(location, version, AppointmentCancellation.from_json, None)
        return outcome

    async def wait_appointment_cancellation(
        self,
        request: int | str,
        *,
        timeout: float | None = None,
        version: int | None = None,
        on_poll: OnPoll | None = None,
    ) -> AppointmentCancellation:
        """Poll a request's outcome until it is final; a 422 outcome raises `ConnectApiError`."""
        return await self._wait(
            self._location(request, APPOINTMENT_REQUEST),
            version,
            AppointmentCancellation.from_json,
            timeout,
            on_poll,
        )

    # --- service cancellations ------------------------------------------------------------

    @overload
    async def request_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[False] = False,
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    async def request_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[True],
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    async def request_service_cancellation(
        self,
        service_id: int,
        cancellation_date: date | str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted | ServiceCancellation:
        """Request a service's cancellation on a date (today or later, business time zone)."""
        return await self._service_command(
            f"{SERVICE_CANCELLATIONS}/request",
            dated_body(service_id, cancellation_date),
            wait,
            timeout,
            version,
            idempotency_key,
            on_poll,
        )

    @overload
    async def reschedule_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[False] = False,
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    async def reschedule_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[True],
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    async def reschedule_service_cancellation(
        self,
        service_id: int,
        cancellation_date: date | str,
        *,
        wait: bool = False,
        timeout: float | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted | ServiceCancellation:
        """Move a REQUESTED or IN_ERROR cancellation to another date."""
        return await self._service_command(
            f"{SERVICE_CANCELLATIONS}/requests/reschedule",
            dated_body(service_id, cancellation_date),
            wait,
            timeout,
            version,
            idempotency_key,
            on_poll,
        )

    @overload
    async def abort_service_cancellation(
        self, service_id: int, *, wait: Literal[False] = False, timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    async def abort_service_cancellation(
        self, service_id: int, *, wait: Literal[True], timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    async def abort_service_cancellation(
        self,
        service_id: int,
        *,
        wait: bool = False,
        timeout: float | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted | ServiceCancellation:
        """Abort a REQUESTED or IN_ERROR cancellation."""
        return await self._service_command(
            f"{SERVICE_CANCELLATIONS}/requests/abort",
            {"serviceId": service_id},
            wait,
            timeout,
            version,
            idempotency_key,
            on_poll,
        )

    @overload
    async def submit_service_cancellation(
        self, service_id: int, *, wait: Literal[False] = False, timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    async def submit_service_cancellation(
        self, service_id: int, *, wait: Literal[True], timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    async def submit_service_cancellation(
        self,
        service_id: int,
        *,
        wait: bool = False,
        timeout: float | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted | ServiceCancellation:
        """Sandbox only: submit a REQUESTED cancellation to the nbn now rather than on its date."""
        return await self._service_command(
            SANDBOX_SUBMIT.format(service_id),
            None,
            wait,
            timeout,
            version,
            idempotency_key,
            on_poll,
        )

    async def service_cancellation(
        self, service: int | str, *, version: int | None = None
    ) -> ServiceCancellation | InProgress:
        """One look at a service's cancellation (by service id or Location); 422 raises."""
        outcome, _ = await self._poll(
            self._location(service, SERVICE_REQUEST),
            self._service_cancellation_version(version),
            ServiceCancellation.from_json,
            None,
        )
        return outcome

    async def wait_service_cancellation(
        self,
        service: int | str,
        *,
        timeout: float | None = None,
        version: int | None = None,
        on_poll: OnPoll | None = None,
    ) -> ServiceCancellation:
        """Poll until the cancellation is no longer with the submission process (200 or 422)."""
        return await self._wait(
            self._location(service, SERVICE_REQUEST),
            self._service_cancellation_version(version),
            ServiceCancellation.from_json,
            timeout,
            on_poll,
        )

    async def service(self, service_id: int, *, version: int | None = None) -> Service:
        """A service, its eligibility and its latest cancellation."""
        response = await self._connect("GET", f"{SERVICES}/{service_id}", version)
        return Service.from_json(expect(response, 200))

    # --- UX API ---------------------------------------------------------------------------

    async def cancel_ux_appointment(
        self,
        business_id: str,
        appointment_id: str,
        *,
        order_class: str,
        reason: str = "CR",
        billing_account: str | None = None,
        correlation_id: str | None = None,
        end_date_time: datetime | None = None,
    ) -> UxCancellation:
        """Cancel an appointment in the billing system (UX API PATCH, synchronous)."""
        headers = self._ux_headers(correlation_id)
        body = cancel_body(reason, order_class, billing_account, end_date_time)
        url = self._url(ux_appointment_path(business_id, appointment_id))
        response = await self._send("PATCH", url, headers=headers, json=body)
        echoed = response.headers.get("X-Correlation-ID", headers["X-Correlation-ID"])
        return UxCancellation.from_json(expect(response, 200, "ux"), echoed)

    # --- webhooks -------------------------------------------------------------------------

    async def create_subscription(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Subscribe a URL to events; the answer carries the signing secret, shown this once."""
        body = subscription_body(url, events, description)
        response = await self._connect(
            "POST", SUBSCRIPTIONS, body=body, idempotency_key=idempotency_key
        )
        return Subscription.from_json(expect(response, 201))

    async def subscriptions(self) -> list[Subscription]:
        """Every subscription of the caller (never their secrets)."""
        response = await self._connect("GET", SUBSCRIPTIONS)
        return [Subscription.from_json(item) for item in expect_list(response)]

    async def subscription(self, subscription_id: int) -> Subscription:
        """One subscription."""
        response = await self._connect("GET", f"{SUBSCRIPTIONS}/{subscription_id}")
        return Subscription.from_json(expect(response, 200))

    async def update_subscription(
        self,
        subscription_id: int,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Subscription:
        """Change what is given of url, events, description and enabled."""
        body = given(url=url, events=events, description=description, enabled=enabled)
        response = await self._connect("PATCH", f"{SUBSCRIPTIONS}/{subscription_id}", body=body)
        return Subscription.from_json(expect(response, 200))

    async def delete_subscription(self, subscription_id: int) -> None:
        """Delete a subscription (its deliveries stop)."""
        expect_empty(await self._connect("DELETE", f"{SUBSCRIPTIONS}/{subscription_id}"))

    async def rotate_secret(self, subscription_id: int) -> Subscription:
        """A new signing secret (shown this once); the old one stays valid for 24 h."""
        response = await self._connect("POST", f"{SUBSCRIPTIONS}/{subscription_id}/rotate-secret")
        return Subscription.from_json(expect(response, 200))

    async def send_test_event(self, subscription_id: int) -> Delivery:
        """Deliver a `webhook.test` event to the subscription (202: on its way)."""
        response = await self._connect("POST", f"{SUBSCRIPTIONS}/{subscription_id}/test")
        return Delivery.from_json(expect(response, 202))

    async def deliveries(self, subscription_id: int) -> list[Delivery]:
        """The subscription's latest deliveries, each with its attempts."""
        response = await self._connect("GET", f"{SUBSCRIPTIONS}/{subscription_id}/deliveries")
        return [Delivery.from_json(item) for item in expect_list(response)]

    async def redeliver(self, subscription_id: int, delivery_id: int) -> Delivery:
        """Send a delivery again with the same webhook-id (422 while the subscription is off)."""
        path = f"{SUBSCRIPTIONS}/{subscription_id}/deliveries/{delivery_id}/redeliver"
        response = await self._connect("POST", path)
        return Delivery.from_json(expect(response, 202))

    # --- events ---------------------------------------------------------------------------

    async def events(
        self, after: str | None = None, type: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """The caller's events after the event `after` (from the oldest without it), oldest
        first, `limit` at most (the server's default 100), each with its delivery headers."""
        response = await self._connect("GET", events_path(after, type, limit))
        return [Event.from_json(item) for item in expect_list(response)]

    async def stream_events(
        self,
        last_event_id: str | None = None,
        *,
        type: str | None = None,
        on_connection: OnConnection | None = None,
    ) -> AsyncGenerator[Event, None]:
        """The caller's events as they happen (server-sent events): after `last_event_id` (the
        events since that one first), else from now on; only `type` if given.

        A dropped connection (transport failure, silence past STREAM_READ_TIMEOUT, the server
        ending it, 429 or 5xx) is opened again with `Last-Event-ID` (the last event yielded),
        after a jittered pause that grows to `PollPolicy.maximum` (or `Retry-After`, up to
        MAX_RETRY_WAIT), until you stop iterating; before any event there is nothing to resume
        after, and it starts from now again. `on_connection` hears each connection and drop
        (raise from it to give up). Other errors raise (a 401 after one fresh token, 4xx).
        """
        stream = self._event_stream(last_event_id, type, on_connection)
        while True:
            try:
                token = await self.token(refresh=stream.fresh)
                headers = stream.headers(token)
                async with self._http.stream(
                    "GET", stream.url, headers=headers, timeout=stream.timeout
                ) as got:
                    if stream.unauthorized(got):
                        continue
                    if got.status_code != 200:
                        await got.aread()
                        stream.refused(got)
                    else:
                        stream.connected()
                        async for line in got.aiter_lines():
                            event = stream.feed(line)
                            if event is not None:
                                yield event
                        stream.ended()
            except (httpx.TransportError, TransportError) as exc:
                stream.failed(exc)
            await async_sleep(stream.pause())

    # --- the sandbox ----------------------------------------------------------------------

    async def scenarios(self) -> ScenarioCatalogue:
        """Sandbox: every scenario a fixture can play, and what cancelling it does."""
        response = await self._connect("GET", f"{SANDBOX}/scenarios")
        return ScenarioCatalogue.from_json(expect(response, 200))

    async def create_appointments(self, scenario: str, count: int = 1) -> list[AppointmentFixture]:
        """Sandbox: `count` new appointments of the caller's tenant playing the scenario."""
        body = {"scenario": scenario, "count": count}
        response = await self._connect("POST", f"{SANDBOX}/appointments", body=body)
        return [AppointmentFixture.from_json(item) for item in expect_list(response, 201)]

    async def create_services(self, scenario: str, count: int = 1) -> list[ServiceFixture]:
        """Sandbox: `count` new services of the caller's tenant playing the scenario."""
        body = {"scenario": scenario, "count": count}
        response = await self._connect("POST", f"{SANDBOX}/services", body=body)
        return [ServiceFixture.from_json(item) for item in expect_list(response, 201)]

    async def create_ux_appointments(
        self,
        business_id: str,
        scenario: str,
        count: int = 1,
        *,
        correlation_id: str | None = None,
    ) -> list[UxAppointmentFixture]:
        """Sandbox: `count` new UX appointments of the business unit playing the CSG scenario
        (the UX API's channel credentials, as the PATCH)."""
        response = await self._send(
            "POST",
            self._url(ux_sandbox_path(business_id)),
            headers=self._ux_headers(correlation_id),
            json={"scenario": scenario, "count": count},
        )
        return [UxAppointmentFixture.from_json(item) for item in expect_list(response, 201, "ux")]

    async def clock(self) -> SandboxClock:
        """Sandbox: the caller's test clock."""
        response = await self._connect("GET", SANDBOX_CLOCK)
        return SandboxClock.from_json(expect(response, 200))

    async def advance_clock(
        self, to: datetime | str | None = None, seconds: float | None = None
    ) -> SandboxClock:
        """Sandbox: move the caller's test clock forward, to an instant or by seconds (one of
        them); what came due then (a cancellation dated ahead) runs. The new clock."""
        body = clock_body(to, seconds)
        response = await self._connect("POST", f"{SANDBOX_CLOCK}/advance", body=body)
        return SandboxClock.from_json(expect(response, 200))

    # --- the request-reply loop -----------------------------------------------------------

    async def _service_command(
        self,
        path: str,
        body: dict[str, Any] | None,
        wait: bool,
        timeout: float | None,
        version: int | None,
        idempotency_key: str | None,
        on_poll: OnPoll | None,
    ) -> Accepted | ServiceCancellation:
        """A service-cancellation command, and with `wait` its Location followed (with the
        same version)."""
        version = self._service_cancellation_version(version)
        accepted = await self._command(path, body, version, idempotency_key)
        if not wait:
            return accepted
        return await self._wait(
            accepted.location, version, ServiceCancellation.from_json, timeout, on_poll
        )

    async def _command(
        self, path: str, body: dict[str, Any] | None, version: int | None, key: str | None
    ) -> Accepted:
        """POST a command with an Idempotency-Key; 201/204 + Location, else the error raised."""
        # The key is made here, not left to `_connect`, because `Accepted` hands it back.
        idempotency_key = key or new_key()
        response = await self._connect(
            "POST", path, version, body=body, idempotency_key=idempotency_key
        )
        return self._accepted(response, idempotency_key)

    async def _poll(
        self,
        location: str,
        version: int | None,
        parse: Callable[[dict[str, Any]], T],
        hold: int | None,
    ) -> tuple[T | InProgress, bool]:
        """One GET of an outcome, with `Prefer: wait=hold` if given; and whether it was held."""
        headers, timeout = self._poll_options(hold)
        response = await self._connect("GET", location, version, headers=headers, timeout=timeout)
        return polled(response, location, parse)

    async def _wait(
        self,
        location: str,
        version: int | None,
        parse: Callable[[dict[str, Any]], T],
        timeout: float | None,
        on_poll: OnPoll | None,
    ) -> T:
        """Poll until the outcome is final (the rules: `Waiting`), bounded by the timeout."""
        waiting = self._waiting(location, timeout, on_poll)
        while True:
            outcome, held = await self._poll(location, version, parse, waiting.hold())
            if not isinstance(outcome, InProgress):
                return outcome
            await async_sleep(waiting.pause(outcome, held))

    # --- HTTP -----------------------------------------------------------------------------

    async def _connect(
        self,
        method: str,
        path: str,
        version: int | None = None,
        *,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """A Connect call with the bearer token; one retry with a fresh token after a 401."""
        sent = self._connect_headers(method, version, idempotency_key, headers)
        url = self._url(path)
        for fresh in (False, True):
            token = await self.token(refresh=fresh)
            sent["Authorization"] = f"Bearer {token.access_token}"
            response = await self._send(method, url, headers=sent, json=body, timeout=timeout)
            if response.status_code != 401:
                break
        return response

    async def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        form: Callable[[], dict[str, str]] | None = None,
        auth: httpx.Auth | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """One request, retried on transport failures and 409/429/503/504 (same key)."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(
                    method,
                    url,
                    headers=headers,
                    json=json,
                    data=form() if form else None,
                    auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                delay = self._failure_delay(method, url, exc, attempt)
            else:
                answered = self._retry_delay(response, attempt)
                if answered is None:
                    return response
                delay = answered
            await async_sleep(delay)
            attempt += 1
