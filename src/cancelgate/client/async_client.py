"""`AsyncClient`: the Connect and UX APIs from Python: tokens, retries, request-reply."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar, overload
from urllib.parse import quote, urlencode

import httpx

from cancelgate.client.errors import (
    ApiError,
    ConfigurationError,
    ConnectApiError,
    OAuthError,
    ProtocolError,
    TransportError,
    UxApiError,
    WaitTimeout,
)
from cancelgate.client.models import (
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
from cancelgate.client.polling import (
    PollPolicy,
    held_read_timeout,
    long_poll_seconds,
    next_delay,
    parse_retry_after,
    poll_pause,
    refresh_margin,
    resolve_location,
    wait_applied,
)
from cancelgate.client.sse import MessageReader, messages
from cancelgate.client.tokens import (
    Credentials,
    StoredToken,
    TokenStore,
    load_private_key,
    token_form,
    token_key,
)
from cancelgate.client.ux import cancel_body

T = TypeVar("T")
# A token kept by an earlier run is used only with at least this long to live (a 401 would
# fetch a new one anyway, at the cost of a round trip).
STORED_TOKEN_MIN_SECONDS = 60
R_co = TypeVar("R_co", covariant=True)
ApiKind = Literal["connect", "ux", "oauth"]

APPOINTMENT_CANCELLATIONS = "/api/connect/orders/appointment-cancellations"
SERVICE_CANCELLATIONS = "/api/connect/services/service-cancellations"
SERVICES = "/api/connect/services"
# One request's outcome, by id (`str.format`).
APPOINTMENT_REQUEST = f"{APPOINTMENT_CANCELLATIONS}/requests/{{}}"
SERVICE_REQUEST = f"{SERVICE_CANCELLATIONS}/requests/{{}}"
SANDBOX_SUBMIT = "/api/connect/sandbox/service-cancellations/requests/{}/submit"
SUBSCRIPTIONS = "/api/connect/webhooks/subscriptions"
UX_APPOINTMENT = "/ecom-ux/v1/{}/appointment/{}"
SANDBOX = "/api/connect/sandbox"
SANDBOX_CLOCK = f"{SANDBOX}/clock"
UX_SANDBOX_APPOINTMENTS = "/ecom-ux/v1/{}/sandbox/appointments"
EVENTS = "/api/connect/webhooks/events"
EVENT_STREAM = f"{EVENTS}/stream"
# The event stream sends a `: keep-alive` comment after 15 s without an event: a stream silent
# for this long is dead, and is reconnected.
STREAM_READ_TIMEOUT = 45.0
DEFAULT_VERSION = 8
# The service-cancellation endpoints stop at version 7 (the others serve 1..8).
SERVICE_CANCELLATION_LATEST = 7
# Answers that say "the same request again, a little later" (409: the idempotency key's
# first request is still running).
RETRIED_STATUSES = frozenset({409, 429, 503, 504})
# A server asking for a longer pause than this is answered with its error, not a hidden wait.
MAX_RETRY_WAIT = 10.0


@dataclass(frozen=True)
class PollUpdate:
    """What `on_poll` hears before each pause of a wait: polls so far, time spent, next pause."""

    location: str
    polls: int
    elapsed: float
    next_delay: float


OnPoll = Callable[[PollUpdate], None]


@dataclass(frozen=True)
class StreamUpdate:
    """What `on_connection` of `stream_events` hears: the stream connected (resuming after
    `last_event_id`), or it dropped (`error`) and the next attempt follows in `next_delay` s."""

    connected: bool
    last_event_id: str | None
    failures: int
    next_delay: float | None = None
    error: str | None = None


OnConnection = Callable[[StreamUpdate], None]


class Follow(Protocol[R_co]):
    """A `wait_*` method: polls a request (id or Location) until its outcome is final."""

    def __call__(
        self,
        request: int | str,
        /,
        *,
        timeout: float | None = None,
        version: int | None = None,
        on_poll: OnPoll | None = None,
    ) -> R_co: ...


class AsyncClient:
    """A client of one cancelgate server (or any server speaking the same APIs).

    Use it as `async with AsyncClient(base_url, client_id=…, client_secret=…) as api:`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        private_key: str | bytes | Path | None = None,
        key_id: str | None = None,
        token_url: str | None = None,
        api_version: int = DEFAULT_VERSION,
        ux_client_id: str | None = None,
        ux_client_secret: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        poll: PollPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or f"{self.base_url}/oauth/token"
        self.api_version = api_version
        self.retries = retries
        self.poll = poll or PollPolicy()
        self._credentials = (
            Credentials(
                client_id=client_id,
                client_secret=client_secret,
                private_key_pem=load_private_key(private_key) if private_key else None,
                key_id=key_id,
            )
            if client_id is not None
            else None
        )
        self._ux = (ux_client_id, ux_client_secret)
        self._http = http or httpx.AsyncClient(timeout=timeout, headers=_user_agent())
        self._owns_http = http is None
        self._rng = rng or random.Random()
        self._token: Token | None = None
        self._token_renew_at = 0.0
        self._token_lock = asyncio.Lock()
        # Where tokens outlive this client (the command line's runs), if anywhere.
        self._token_store = token_store

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in)."""
        if self._owns_http:
            await self._http.aclose()

    # --- tokens -------------------------------------------------------------------------

    async def token(self, *, refresh: bool = False) -> Token:
        """The cached access token, fetched anew when missing, near expiry or `refresh`."""
        async with self._token_lock:
            if self._token is None and not refresh:
                self._token = self._stored_token()
                if self._token is not None:
                    margin = refresh_margin(self._token.expires_in)
                    self._token_renew_at = time.monotonic() + self._token.expires_in - margin
            if refresh or self._token is None or time.monotonic() >= self._token_renew_at:
                self._token = await self._fetch_token()
                margin = refresh_margin(self._token.expires_in)
                self._token_renew_at = time.monotonic() + self._token.expires_in - margin
                self._store_token(self._token)
            return self._token

    def _stored_token(self) -> Token | None:
        """The token a previous run kept, if it still has more than its renewal margin left."""
        if self._token_store is None or self._credentials is None:
            return None
        kept = self._token_store.load(token_key(self.token_url, self._credentials))
        if kept is None:
            return None
        left = kept.expires_at - time.time()
        if left < STORED_TOKEN_MIN_SECONDS:
            return None
        return Token(kept.access_token, kept.token_type, int(left))

    def _store_token(self, token: Token) -> None:
        if self._token_store is None or self._credentials is None:
            return
        key = token_key(self.token_url, self._credentials)
        expires_at = time.time() + token.expires_in
        self._token_store.save(key, StoredToken(token.access_token, token.token_type, expires_at))

    async def _fetch_token(self) -> Token:
        credentials = self._credentials
        if credentials is None:
            raise ConfigurationError("no client_id (with client_secret or private_key)")
        auth = (
            httpx.BasicAuth(credentials.client_id, credentials.client_secret)
            if credentials.client_secret is not None
            else None
        )
        response = await self._send(
            "POST",
            self.token_url,
            form=lambda: token_form(credentials, self.token_url, int(time.time())),
            auth=auth,
        )
        if response.status_code != 200:
            raise _error(response, "oauth")
        return Token.from_json(_json_object(response))

    # --- appointment cancellations ------------------------------------------------------

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
        return await self._request(
            f"{APPOINTMENT_CANCELLATIONS}/request",
            {"appointmentId": appointment_id},
            version,
            idempotency_key,
            wait,
            timeout,
            on_poll,
            self.wait_appointment_cancellation,
        )

    async def appointment_cancellation(
        self, request: int | str, *, version: int | None = None
    ) -> AppointmentCancellation | InProgress:
        """One look at a request's outcome (by id or Location); a 422 outcome raises."""
        return await self._look(
            self._location(request, APPOINTMENT_REQUEST), version, AppointmentCancellation.from_json
        )

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

    # --- service cancellations ----------------------------------------------------------

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
        return await self._request(
            f"{SERVICE_CANCELLATIONS}/request",
            _dated_body(service_id, cancellation_date),
            version or self._service_cancellation_version(),
            idempotency_key,
            wait,
            timeout,
            on_poll,
            self.wait_service_cancellation,
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
        return await self._request(
            f"{SERVICE_CANCELLATIONS}/requests/reschedule",
            _dated_body(service_id, cancellation_date),
            version or self._service_cancellation_version(),
            idempotency_key,
            wait,
            timeout,
            on_poll,
            self.wait_service_cancellation,
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
        return await self._request(
            f"{SERVICE_CANCELLATIONS}/requests/abort",
            {"serviceId": service_id},
            version or self._service_cancellation_version(),
            idempotency_key,
            wait,
            timeout,
            on_poll,
            self.wait_service_cancellation,
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
        return await self._request(
            SANDBOX_SUBMIT.format(service_id),
            None,
            version or self._service_cancellation_version(),
            idempotency_key,
            wait,
            timeout,
            on_poll,
            self.wait_service_cancellation,
        )

    async def service_cancellation(
        self, service: int | str, *, version: int | None = None
    ) -> ServiceCancellation | InProgress:
        """One look at a service's cancellation (by service id or Location); 422 raises."""
        return await self._look(
            self._location(service, SERVICE_REQUEST),
            version or self._service_cancellation_version(),
            ServiceCancellation.from_json,
        )

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
            version or self._service_cancellation_version(),
            ServiceCancellation.from_json,
            timeout,
            on_poll,
        )

    async def service(self, service_id: int, *, version: int | None = None) -> Service:
        """A service, its eligibility and its latest cancellation."""
        response = await self._connect("GET", f"{SERVICES}/{service_id}", version)
        return Service.from_json(_expect(response, 200))

    # --- UX API -------------------------------------------------------------------------

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
        correlation = correlation_id or _new_key()
        headers = self._ux_headers(correlation)
        body = cancel_body(reason, order_class, billing_account, end_date_time)
        response = await self._send(
            "PATCH",
            self._url(
                UX_APPOINTMENT.format(quote(business_id, safe=""), quote(appointment_id, safe=""))
            ),
            headers=headers,
            json=body,
        )
        answer = _expect(response, 200, "ux")
        return UxCancellation.from_json(
            answer, response.headers.get("X-Correlation-ID", correlation)
        )

    def _ux_headers(self, correlation_id: str) -> dict[str, str]:
        """The UX API's channel credentials and correlation id."""
        client_id, client_secret = self._ux
        if client_id is None or client_secret is None:
            raise ConfigurationError("the UX API needs ux_client_id and ux_client_secret")
        return {
            "client_id": client_id,
            "client_secret": client_secret,
            "X-Correlation-ID": correlation_id,
        }

    # --- webhooks -----------------------------------------------------------------------

    async def create_subscription(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Subscribe a URL to events; the answer carries the signing secret, shown this once."""
        body: dict[str, Any] = {"url": url, "events": events}
        if description is not None:
            body["description"] = description
        response = await self._connect(
            "POST", SUBSCRIPTIONS, body=body, idempotency_key=idempotency_key
        )
        return Subscription.from_json(_expect(response, 201))

    async def subscriptions(self) -> list[Subscription]:
        """Every subscription of the caller (never their secrets)."""
        response = await self._connect("GET", SUBSCRIPTIONS)
        return [Subscription.from_json(item) for item in _expect_list(response)]

    async def subscription(self, subscription_id: int) -> Subscription:
        """One subscription."""
        response = await self._connect("GET", f"{SUBSCRIPTIONS}/{subscription_id}")
        return Subscription.from_json(_expect(response, 200))

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
        changes = {"url": url, "events": events, "description": description, "enabled": enabled}
        body = {name: value for name, value in changes.items() if value is not None}
        response = await self._connect("PATCH", f"{SUBSCRIPTIONS}/{subscription_id}", body=body)
        return Subscription.from_json(_expect(response, 200))

    async def delete_subscription(self, subscription_id: int) -> None:
        """Delete a subscription (its deliveries stop)."""
        response = await self._connect("DELETE", f"{SUBSCRIPTIONS}/{subscription_id}")
        if response.status_code != 204:
            raise _error(response, "connect")

    async def rotate_secret(self, subscription_id: int) -> Subscription:
        """A new signing secret (shown this once); the old one stays valid for 24 h."""
        response = await self._connect("POST", f"{SUBSCRIPTIONS}/{subscription_id}/rotate-secret")
        return Subscription.from_json(_expect(response, 200))

    async def send_test_event(self, subscription_id: int) -> Delivery:
        """Deliver a `webhook.test` event to the subscription (202: on its way)."""
        response = await self._connect("POST", f"{SUBSCRIPTIONS}/{subscription_id}/test")
        return Delivery.from_json(_expect(response, 202))

    async def deliveries(self, subscription_id: int) -> list[Delivery]:
        """The subscription's latest deliveries, each with its attempts."""
        response = await self._connect("GET", f"{SUBSCRIPTIONS}/{subscription_id}/deliveries")
        return [Delivery.from_json(item) for item in _expect_list(response)]

    async def redeliver(self, subscription_id: int, delivery_id: int) -> Delivery:
        """Send a delivery again with the same webhook-id (422 while the subscription is off)."""
        path = f"{SUBSCRIPTIONS}/{subscription_id}/deliveries/{delivery_id}/redeliver"
        response = await self._connect("POST", path)
        return Delivery.from_json(_expect(response, 202))

    # --- events -------------------------------------------------------------------------

    async def events(
        self, after: str | None = None, type: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """The caller's events after the event `after` (from the oldest without it), oldest
        first, `limit` at most (the server's default 100), each with its delivery headers."""
        query = {"after": after, "type": type, "limit": limit}
        given = {name: str(value) for name, value in query.items() if value is not None}
        path = f"{EVENTS}?{urlencode(given)}" if given else EVENTS
        response = await self._connect("GET", path)
        return [Event.from_json(item) for item in _expect_list(response)]

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
        url = self._url(EVENT_STREAM + (f"?{urlencode({'type': type})}" if type else ""))
        default = self._http.timeout
        timeout = httpx.Timeout(
            connect=default.connect,
            read=STREAM_READ_TIMEOUT,
            write=default.write,
            pool=default.pool,
        )
        failures = 0
        fresh = False
        while True:
            retry_after: float | None = None
            try:
                token = await self.token(refresh=fresh)
                headers = {
                    "Authorization": f"Bearer {token.access_token}",
                    "X-API-VERSION": str(self.api_version),
                    "Accept": "text/event-stream",
                }
                if last_event_id is not None:
                    headers["Last-Event-ID"] = last_event_id
                async with self._http.stream("GET", url, headers=headers, timeout=timeout) as got:
                    if got.status_code == 401 and not fresh:
                        fresh = True  # once: a token the server no longer takes
                        continue
                    if got.status_code != 200:
                        await got.aread()
                        if got.status_code != 429 and got.status_code < 500:
                            raise _error(got, "connect")
                        asked = parse_retry_after(got.headers.get("Retry-After"), _now())
                        retry_after = None if asked is None else min(asked, MAX_RETRY_WAIT)
                        error = f"{got.status_code} {got.reason_phrase}"
                    else:
                        fresh = False
                        failures = 0
                        if on_connection is not None:
                            on_connection(StreamUpdate(True, last_event_id, 0))
                        reader = MessageReader(last_event_id)
                        async for message in messages(got.aiter_lines(), reader):
                            event = _streamed_event(
                                message.last_event_id, message.event, message.data
                            )
                            last_event_id = event.id
                            yield event
                        error = "the server ended the stream"
            except (httpx.TransportError, TransportError) as exc:
                error = f"{exc.__class__.__name__}: {exc}"
            delay = next_delay(failures, retry_after, self.poll, self._rng)
            failures += 1
            if on_connection is not None:
                on_connection(StreamUpdate(False, last_event_id, failures, delay, error))
            await asyncio.sleep(delay)

    # --- the sandbox --------------------------------------------------------------------

    async def scenarios(self) -> ScenarioCatalogue:
        """Sandbox: every scenario a fixture can play, and what cancelling it does."""
        response = await self._connect("GET", f"{SANDBOX}/scenarios")
        return ScenarioCatalogue.from_json(_expect(response, 200))

    async def create_appointments(self, scenario: str, count: int = 1) -> list[AppointmentFixture]:
        """Sandbox: `count` new appointments of the caller's tenant playing the scenario."""
        body = {"scenario": scenario, "count": count}
        response = await self._connect("POST", f"{SANDBOX}/appointments", body=body)
        return [AppointmentFixture.from_json(item) for item in _expect_list(response, 201)]

    async def create_services(self, scenario: str, count: int = 1) -> list[ServiceFixture]:
        """Sandbox: `count` new services of the caller's tenant playing the scenario."""
        body = {"scenario": scenario, "count": count}
        response = await self._connect("POST", f"{SANDBOX}/services", body=body)
        return [ServiceFixture.from_json(item) for item in _expect_list(response, 201)]

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
        headers = self._ux_headers(correlation_id or _new_key())
        response = await self._send(
            "POST",
            self._url(UX_SANDBOX_APPOINTMENTS.format(quote(business_id, safe=""))),
            headers=headers,
            json={"scenario": scenario, "count": count},
        )
        return [UxAppointmentFixture.from_json(item) for item in _expect_list(response, 201, "ux")]

    async def clock(self) -> SandboxClock:
        """Sandbox: the caller's test clock."""
        response = await self._connect("GET", SANDBOX_CLOCK)
        return SandboxClock.from_json(_expect(response, 200))

    async def advance_clock(
        self, to: datetime | str | None = None, seconds: float | None = None
    ) -> SandboxClock:
        """Sandbox: move the caller's test clock forward, to an instant or by seconds (one of
        them); what came due then (a cancellation dated ahead) runs. The new clock."""
        body: dict[str, Any] = {}
        if isinstance(to, datetime):
            if to.utcoffset() is None:
                raise ConfigurationError("to needs a time zone (RFC 3339 asks for an offset)")
            body["to"] = to.isoformat()
        elif to is not None:
            body["to"] = to
        if seconds is not None:
            body["seconds"] = seconds
        response = await self._connect("POST", f"{SANDBOX_CLOCK}/advance", body=body)
        return SandboxClock.from_json(_expect(response, 200))

    # --- the request-reply loop ---------------------------------------------------------

    async def _request(
        self,
        path: str,
        body: dict[str, Any] | None,
        version: int | None,
        idempotency_key: str | None,
        wait: bool,
        timeout: float | None,
        on_poll: OnPoll | None,
        follow: Follow[Awaitable[T]],
    ) -> Accepted | T:
        """A command, and with `wait` its Location followed (same `version` for both)."""
        accepted = await self._command(path, body, version, idempotency_key)
        if not wait:
            return accepted
        return await follow(accepted.location, timeout=timeout, version=version, on_poll=on_poll)

    async def _command(
        self, path: str, body: dict[str, Any] | None, version: int | None, key: str | None
    ) -> Accepted:
        """POST a command with an Idempotency-Key; 201/204 + Location, else the error raised."""
        # The key is made here, not left to `_connect`, because `Accepted` hands it back.
        idempotency_key = key or _new_key()
        response = await self._connect(
            "POST", path, version, body=body, idempotency_key=idempotency_key
        )
        if response.status_code not in (201, 204):
            raise _error(response, "connect")
        location = response.headers.get("Location")
        if not location:
            raise ProtocolError(f"{response.status_code} without a Location header")
        return Accepted(
            status=response.status_code,
            location=resolve_location(str(response.url), location, self.base_url),
            idempotency_key=idempotency_key,
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )

    async def _look(
        self, location: str, version: int | None, parse: Callable[[dict[str, Any]], T]
    ) -> T | InProgress:
        """One look, answered at once: the outcome, or `InProgress` for a 202; errors raised."""
        outcome, _ = await self._poll(location, version, parse, None)
        return outcome

    async def _poll(
        self,
        location: str,
        version: int | None,
        parse: Callable[[dict[str, Any]], T],
        hold: int | None,
    ) -> tuple[T | InProgress, bool]:
        """One GET of an outcome, with `Prefer: wait=hold` if given; and whether it was held."""
        headers: dict[str, str] = {}
        timeout: httpx.Timeout | None = None
        if hold is not None:
            headers["Prefer"] = f"wait={hold}"
            timeout = self._held_timeout(hold)
        response = await self._connect("GET", location, version, headers=headers, timeout=timeout)
        held = wait_applied(response.headers.get_list("Preference-Applied"))
        if response.status_code == 202:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), _now())
            return InProgress(location=location, retry_after=retry_after), held
        return parse(_expect(response, 200)), held

    def _held_timeout(self, seconds: int) -> httpx.Timeout:
        """The client's timeouts, with a read timeout that outlasts a hold of `seconds`."""
        default = self._http.timeout
        return httpx.Timeout(
            connect=default.connect,
            read=held_read_timeout(seconds, default.read),
            write=default.write,
            pool=default.pool,
        )

    async def _wait(
        self,
        location: str,
        version: int | None,
        parse: Callable[[dict[str, Any]], T],
        timeout: float | None,
        on_poll: OnPoll | None,
    ) -> T:
        """Look until final, each look held by the server (`Prefer: wait`) when it will, else
        Retry-After honoured or jittered backoff; bounded by the timeout."""
        started = time.monotonic()
        deadline = started + (self.poll.timeout if timeout is None else timeout)
        polls = 0
        while True:
            hold = long_poll_seconds(self.poll, deadline - time.monotonic())
            outcome, held = await self._poll(location, version, parse, hold)
            polls += 1
            if not isinstance(outcome, InProgress):
                return outcome
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(location, time.monotonic() - started, polls)
            pause = poll_pause(polls - 1, outcome.retry_after, held, self.poll, self._rng)
            delay = min(pause, remaining)
            if on_poll is not None:
                on_poll(PollUpdate(location, polls, time.monotonic() - started, delay))
            await asyncio.sleep(delay)

    def _service_cancellation_version(self) -> int:
        """The client's version, down to the last one the service-cancellation endpoints serve."""
        return min(self.api_version, SERVICE_CANCELLATION_LATEST)

    def _location(self, target: int | str, template: str) -> str:
        """An absolute URL from a Location (absolute or not) or an id."""
        if isinstance(target, int):
            return self._url(template.format(target))
        return resolve_location(self.base_url + "/", target, self.base_url)

    # --- HTTP ---------------------------------------------------------------------------

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
        sent = {**(headers or {}), "X-API-VERSION": str(version or self.api_version)}
        if method == "POST":
            # Every Connect POST is a command: its key makes the retries of `_send` safe.
            idempotency_key = idempotency_key or _new_key()
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key
        for fresh in (False, True):
            token = await self.token(refresh=fresh)
            sent["Authorization"] = f"Bearer {token.access_token}"
            response = await self._send(
                method, self._url(path), headers=sent, json=body, timeout=timeout
            )
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
            delay: float | None
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
                if attempt >= self.retries:
                    raise TransportError(f"{method} {url}: {exc!r}") from exc
                delay = None
            else:
                if response.status_code not in RETRIED_STATUSES or attempt >= self.retries:
                    return response
                if response.status_code == 409 and not _in_progress(response):
                    return response
                delay = parse_retry_after(response.headers.get("Retry-After"), _now())
                if delay is not None and delay > MAX_RETRY_WAIT:
                    return response
            await asyncio.sleep(next_delay(attempt, delay, self.poll, self._rng))
            attempt += 1

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path


def _expect(response: httpx.Response, status: int, api: ApiKind = "connect") -> dict[str, Any]:
    """The JSON object of a response with the expected status, else its error raised."""
    if response.status_code != status:
        raise _error(response, api)
    return _json_object(response)


def _expect_list(
    response: httpx.Response, status: int = 200, api: ApiKind = "connect"
) -> list[dict[str, Any]]:
    """The JSON array of a response with the expected status, else its error raised."""
    if response.status_code != status:
        raise _error(response, api)
    body = _json(response)
    if not isinstance(body, list):
        raise ProtocolError(f"expected a JSON array, got {response.text[:200]!r}")
    return [item for item in body if isinstance(item, dict)]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(f"{response.status_code}: not JSON: {response.text[:200]!r}") from None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = _json(response)
    if not isinstance(body, dict):
        raise ProtocolError(f"expected a JSON object, got {response.text[:200]!r}")
    return body


def _error(response: httpx.Response, api: ApiKind) -> ApiError:
    """The exception for an error response, in the format of the API that answered it."""
    headers = dict(response.headers)
    body = _json_or_none(response)
    if isinstance(body, dict):
        if api == "connect" and "code" in body and "httpStatusCode" in body:
            return ConnectApiError(response.status_code, body, headers)
        if api == "ux" and isinstance(body.get("errors"), list):
            return UxApiError(response.status_code, body, headers)
        if api == "oauth" and "error" in body:
            return OAuthError(response.status_code, body, headers)
    text = response.text[:200] or response.reason_phrase
    raw = body if body is not None else response.text
    return ApiError(response.status_code, text, raw, headers)


def _streamed_event(event_id: str | None, event_type: str, data: str) -> Event:
    """An event of the stream: `id:` the event id, `event:` its type, `data:` its payload."""
    if not event_id:
        raise ProtocolError(f"a {event_type} event without an id")
    try:
        payload = json.loads(data)
    except ValueError:
        raise ProtocolError(f"event {event_id}: data is not JSON: {data[:200]!r}") from None
    if not isinstance(payload, dict):
        raise ProtocolError(f"event {event_id}: data is not a JSON object: {data[:200]!r}")
    raw = {"id": event_id, "type": event_type, "payload": payload}
    return Event(
        id=event_id, type=event_type, payload=payload, occurred_at=None, headers={}, raw=raw
    )


def _in_progress(response: httpx.Response) -> bool:
    """A 409 saying the idempotency key's first request is still running (worth a retry)."""
    body = _json_or_none(response)
    return isinstance(body, dict) and body.get("code") == "idempotency.key.in.progress"


def _json_or_none(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON (error bodies may be anything)."""
    try:
        return response.json()
    except ValueError:
        return None


def _dated_body(service_id: int, cancellation_date: date | str) -> dict[str, Any]:
    """The body of a service cancellation's request or reschedule."""
    return {"serviceId": service_id, "cancellationDate": _iso_date(cancellation_date)}


def _iso_date(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


def _new_key() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


def _user_agent() -> dict[str, str]:
    """`cancelgate-client/<version>`, from whichever distribution installed this module."""
    for distribution in ("cancelgate-client", "cancelgate"):
        try:
            return {"User-Agent": f"cancelgate-client/{metadata.version(distribution)}"}
        except metadata.PackageNotFoundError:
            continue
    return {"User-Agent": "cancelgate-client"}
