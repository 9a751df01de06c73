"""`Client`: the same operations as `AsyncClient`, for code that does not run an event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Generator
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from cancelgate.client.async_client import (
    DEFAULT_VERSION,
    AsyncClient,
    Follow,
    OnConnection,
    OnPoll,
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
from cancelgate.client.polling import PollPolicy
from cancelgate.client.tokens import TokenStore

T = TypeVar("T")


class Client:
    """A blocking client: each call runs the `AsyncClient` call on a private event loop.

    Use it as `with Client(base_url, client_id=…, client_secret=…) as api:`; not from inside
    a running event loop (use `AsyncClient` there).
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
        token_store: TokenStore | None = None,
    ) -> None:
        self._runner = asyncio.Runner()
        self._closed = False
        self._api = AsyncClient(
            base_url,
            client_id=client_id,
            client_secret=client_secret,
            private_key=private_key,
            key_id=key_id,
            token_url=token_url,
            api_version=api_version,
            ux_client_id=ux_client_id,
            ux_client_secret=ux_client_secret,
            timeout=timeout,
            retries=retries,
            poll=poll,
            token_store=token_store,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and the event loop (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        self._run(self._api.aclose())
        self._runner.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    @property
    def base_url(self) -> str:
        """The server's base URL."""
        return self._api.base_url

    def token(self, *, refresh: bool = False) -> Token:
        """The cached access token, fetched anew when missing, near expiry or `refresh`."""
        return self._run(self._api.token(refresh=refresh))

    @overload
    def cancel_appointment(
        self, appointment_id: int, *, wait: Literal[False] = False, timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    def cancel_appointment(
        self, appointment_id: int, *, wait: Literal[True], timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> AppointmentCancellation: ...  # fmt: skip
    def cancel_appointment(
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
        accepted = self._run(
            self._api.cancel_appointment(
                appointment_id, version=version, idempotency_key=idempotency_key
            )
        )
        return self._then_wait(
            accepted, wait, timeout, version, on_poll, self.wait_appointment_cancellation
        )

    def appointment_cancellation(
        self, request: int | str, *, version: int | None = None
    ) -> AppointmentCancellation | InProgress:
        """One look at a request's outcome (by id or Location); a 422 outcome raises."""
        return self._run(self._api.appointment_cancellation(request, version=version))

    def wait_appointment_cancellation(
        self,
        request: int | str,
        *,
        timeout: float | None = None,
        version: int | None = None,
        on_poll: OnPoll | None = None,
    ) -> AppointmentCancellation:
        """Poll a request's outcome until it is final; a 422 outcome raises `ConnectApiError`."""
        return self._run(
            self._api.wait_appointment_cancellation(
                request, timeout=timeout, version=version, on_poll=on_poll
            )
        )

    @overload
    def request_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[False] = False,
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    def request_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[True],
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    def request_service_cancellation(
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
        accepted = self._run(
            self._api.request_service_cancellation(
                service_id, cancellation_date, version=version, idempotency_key=idempotency_key
            )
        )
        return self._then_wait(
            accepted, wait, timeout, version, on_poll, self.wait_service_cancellation
        )

    @overload
    def reschedule_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[False] = False,
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    def reschedule_service_cancellation(
        self, service_id: int, cancellation_date: date | str, *, wait: Literal[True],
        timeout: float | None = None, version: int | None = None,
        idempotency_key: str | None = None, on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    def reschedule_service_cancellation(
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
        accepted = self._run(
            self._api.reschedule_service_cancellation(
                service_id, cancellation_date, version=version, idempotency_key=idempotency_key
            )
        )
        return self._then_wait(
            accepted, wait, timeout, version, on_poll, self.wait_service_cancellation
        )

    @overload
    def abort_service_cancellation(
        self, service_id: int, *, wait: Literal[False] = False, timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    def abort_service_cancellation(
        self, service_id: int, *, wait: Literal[True], timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    def abort_service_cancellation(
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
        accepted = self._run(
            self._api.abort_service_cancellation(
                service_id, version=version, idempotency_key=idempotency_key
            )
        )
        return self._then_wait(
            accepted, wait, timeout, version, on_poll, self.wait_service_cancellation
        )

    @overload
    def submit_service_cancellation(
        self, service_id: int, *, wait: Literal[False] = False, timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> Accepted: ...  # fmt: skip
    @overload
    def submit_service_cancellation(
        self, service_id: int, *, wait: Literal[True], timeout: float | None = None,
        version: int | None = None, idempotency_key: str | None = None,
        on_poll: OnPoll | None = None,
    ) -> ServiceCancellation: ...  # fmt: skip
    def submit_service_cancellation(
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
        accepted = self._run(
            self._api.submit_service_cancellation(
                service_id, version=version, idempotency_key=idempotency_key
            )
        )
        return self._then_wait(
            accepted, wait, timeout, version, on_poll, self.wait_service_cancellation
        )

    def service_cancellation(
        self, service: int | str, *, version: int | None = None
    ) -> ServiceCancellation | InProgress:
        """One look at a service's cancellation (by service id or Location); 422 raises."""
        return self._run(self._api.service_cancellation(service, version=version))

    def wait_service_cancellation(
        self,
        service: int | str,
        *,
        timeout: float | None = None,
        version: int | None = None,
        on_poll: OnPoll | None = None,
    ) -> ServiceCancellation:
        """Poll until the cancellation is no longer with the submission process (200 or 422)."""
        return self._run(
            self._api.wait_service_cancellation(
                service, timeout=timeout, version=version, on_poll=on_poll
            )
        )

    def service(self, service_id: int, *, version: int | None = None) -> Service:
        """A service, its eligibility and its latest cancellation."""
        return self._run(self._api.service(service_id, version=version))

    def _then_wait(
        self,
        accepted: Accepted,
        wait: bool,
        timeout: float | None,
        version: int | None,
        on_poll: OnPoll | None,
        follow: Follow[T],
    ) -> Accepted | T:
        """The accepted command, or with `wait` its Location followed by `follow` to the outcome."""
        if not wait:
            return accepted
        return follow(accepted.location, timeout=timeout, version=version, on_poll=on_poll)

    def cancel_ux_appointment(
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
        return self._run(
            self._api.cancel_ux_appointment(
                business_id,
                appointment_id,
                order_class=order_class,
                reason=reason,
                billing_account=billing_account,
                correlation_id=correlation_id,
                end_date_time=end_date_time,
            )
        )

    def create_subscription(
        self,
        url: str,
        events: list[str],
        *,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Subscription:
        """Subscribe a URL to events; the answer carries the signing secret, shown this once."""
        return self._run(
            self._api.create_subscription(
                url, events, description=description, idempotency_key=idempotency_key
            )
        )

    def subscriptions(self) -> list[Subscription]:
        """Every subscription of the caller (never their secrets)."""
        return self._run(self._api.subscriptions())

    def subscription(self, subscription_id: int) -> Subscription:
        """One subscription."""
        return self._run(self._api.subscription(subscription_id))

    def update_subscription(
        self,
        subscription_id: int,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> Subscription:
        """Change what is given of url, events, description and enabled."""
        return self._run(
            self._api.update_subscription(
                subscription_id, url=url, events=events, description=description, enabled=enabled
            )
        )

    def delete_subscription(self, subscription_id: int) -> None:
        """Delete a subscription (its deliveries stop)."""
        self._run(self._api.delete_subscription(subscription_id))

    def rotate_secret(self, subscription_id: int) -> Subscription:
        """A new signing secret (shown this once); the old one stays valid for 24 h."""
        return self._run(self._api.rotate_secret(subscription_id))

    def send_test_event(self, subscription_id: int) -> Delivery:
        """Deliver a `webhook.test` event to the subscription (202: on its way)."""
        return self._run(self._api.send_test_event(subscription_id))

    def deliveries(self, subscription_id: int) -> list[Delivery]:
        """The subscription's latest deliveries, each with its attempts."""
        return self._run(self._api.deliveries(subscription_id))

    def redeliver(self, subscription_id: int, delivery_id: int) -> Delivery:
        """Send a delivery again with the same webhook-id (422 while the subscription is off)."""
        return self._run(self._api.redeliver(subscription_id, delivery_id))

    def events(
        self, after: str | None = None, type: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """The caller's events after the event `after` (from the oldest without it), oldest
        first, `limit` at most (the server's default 100), each with its delivery headers."""
        return self._run(self._api.events(after, type, limit))

    def stream_events(
        self,
        last_event_id: str | None = None,
        *,
        type: str | None = None,
        on_connection: OnConnection | None = None,
    ) -> Generator[Event, None, None]:
        """The caller's events as they happen, reconnecting with `Last-Event-ID` (as
        `AsyncClient.stream_events`); each `next()` blocks until the next event."""
        stream = self._api.stream_events(last_event_id, type=type, on_connection=on_connection)
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            # RuntimeError: a Ctrl-C that came as `_run` was starting left the step pending,
            # and the stream running in it; closing the client cancels that step.
            if not self._closed:
                with contextlib.suppress(RuntimeError):
                    self._run(stream.aclose())

    def scenarios(self) -> ScenarioCatalogue:
        """Sandbox: every scenario a fixture can play, and what cancelling it does."""
        return self._run(self._api.scenarios())

    def create_appointments(self, scenario: str, count: int = 1) -> list[AppointmentFixture]:
        """Sandbox: `count` new appointments of the caller's tenant playing the scenario."""
        return self._run(self._api.create_appointments(scenario, count))

    def create_services(self, scenario: str, count: int = 1) -> list[ServiceFixture]:
        """Sandbox: `count` new services of the caller's tenant playing the scenario."""
        return self._run(self._api.create_services(scenario, count))

    def create_ux_appointments(
        self,
        business_id: str,
        scenario: str,
        count: int = 1,
        *,
        correlation_id: str | None = None,
    ) -> list[UxAppointmentFixture]:
        """Sandbox: `count` new UX appointments of the business unit playing the CSG scenario."""
        return self._run(
            self._api.create_ux_appointments(
                business_id, scenario, count, correlation_id=correlation_id
            )
        )

    def clock(self) -> SandboxClock:
        """Sandbox: the caller's test clock."""
        return self._run(self._api.clock())

    def advance_clock(
        self, to: datetime | str | None = None, seconds: float | None = None
    ) -> SandboxClock:
        """Sandbox: move the caller's test clock forward, to an instant or by seconds."""
        return self._run(self._api.advance_clock(to, seconds))


async def _next(stream: AsyncIterator[T]) -> T:
    """The next item of an async iterator, as a coroutine (what `asyncio.Runner.run` takes)."""
    return await anext(stream)
