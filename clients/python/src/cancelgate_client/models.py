"""Typed resources of the Connect and UX APIs, parsed from JSON (the body kept in `raw`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 instant (`2025-10-29T04:01:55Z`), or None."""
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _date(value: Any) -> date | None:
    """An ISO 8601 calendar date, or None."""
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


@dataclass(frozen=True)
class Token:
    """An OAuth 2.0 access token as the token endpoint issued it."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Token:
        return cls(
            access_token=str(body["access_token"]),
            token_type=str(body.get("token_type", "Bearer")),
            expires_in=int(body.get("expires_in", 0)),
            scope=body.get("scope"),
        )


@dataclass(frozen=True)
class Accepted:
    """A command the server took (201 or 204): where its outcome is, and how it was sent."""

    status: int
    location: str
    idempotency_key: str | None
    replayed: bool


@dataclass(frozen=True)
class InProgress:
    """A 202 from a status endpoint: not finished yet; ask again after `retry_after` seconds."""

    location: str
    retry_after: float | None


@dataclass(frozen=True)
class AppointmentCancellation:
    """The outcome of an appointment-cancellation request (the AppointmentCancelled body)."""

    id: int
    appointment_id: int
    nbn_appointment_id: str
    cancelled_on: datetime | None
    requested_on: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> AppointmentCancellation:
        return cls(
            id=int(body["id"]),
            appointment_id=int(body["appointmentId"]),
            nbn_appointment_id=str(body.get("nbnAppointmentId", "")),
            cancelled_on=_instant(body.get("cancelledOn")),
            requested_on=_instant(body.get("requestedOn")),
            raw=body,
        )


@dataclass(frozen=True)
class ServiceCancellation:
    """A service's cancellation resource (every field null before any request)."""

    service_id: int
    status: str | None
    request_date: date | None
    requested_on: datetime | None
    requested_by_id: int | None
    requested_by_name: str | None
    requested_by_email: str | None
    error_detail: str | None
    cancelled_on: datetime | None
    aborted_on: datetime | None
    aborted_by_id: int | None
    aborted_by_name: str | None
    aborted_by_email: str | None
    can_request_cancellation: bool
    can_abort_cancellation: bool
    can_reschedule_cancellation: bool
    cancelled: bool
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ServiceCancellation:
        return cls(
            service_id=int(body["serviceId"]),
            status=body.get("status"),
            request_date=_date(body.get("requestDate")),
            requested_on=_instant(body.get("requestedOn")),
            requested_by_id=_int(body.get("requestedById")),
            requested_by_name=body.get("requestedByName"),
            requested_by_email=body.get("requestedByEmail"),
            error_detail=body.get("errorDetail"),
            cancelled_on=_instant(body.get("cancelledOn")),
            aborted_on=_instant(body.get("abortedOn")),
            aborted_by_id=_int(body.get("abortedById")),
            aborted_by_name=body.get("abortedByName"),
            aborted_by_email=body.get("abortedByEmail"),
            can_request_cancellation=bool(body.get("canRequestCancellation")),
            can_abort_cancellation=bool(body.get("canAbortCancellation")),
            can_reschedule_cancellation=bool(body.get("canRescheduleCancellation")),
            cancelled=bool(body.get("cancelled")),
            raw=body,
        )


@dataclass(frozen=True)
class Service:
    """A service and its cancellation."""

    id: int
    nbn_service_id: str
    status: str
    eligible_for_cancellation: bool
    cancelled_on: datetime | None
    service_cancellation: ServiceCancellation
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Service:
        return cls(
            id=int(body["id"]),
            nbn_service_id=str(body.get("nbnServiceId", "")),
            status=str(body.get("status", "")),
            eligible_for_cancellation=bool(body.get("eligibleForCancellation")),
            cancelled_on=_instant(body.get("cancelledOn")),
            service_cancellation=ServiceCancellation.from_json(body["serviceCancellation"]),
            raw=body,
        )


@dataclass(frozen=True)
class UxCancellation:
    """The UX API's answer to a cancel: `{"id", "status": "cancelled"}`, and the correlation id."""

    id: str
    status: str
    correlation_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any], correlation_id: str) -> UxCancellation:
        return cls(
            id=str(body.get("id", "")),
            status=str(body.get("status", "")),
            correlation_id=correlation_id,
            raw=body,
        )


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription; `secret` only on create and rotate (shown once)."""

    id: int
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime | None
    updated_at: datetime | None
    secret: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Subscription:
        return cls(
            id=int(body["id"]),
            url=str(body["url"]),
            events=[str(event) for event in body.get("events") or []],
            description=body.get("description"),
            enabled=bool(body.get("enabled")),
            disabled_reason=body.get("disabledReason"),
            created_at=_instant(body.get("createdAt")),
            updated_at=_instant(body.get("updatedAt")),
            secret=body.get("secret"),
            raw=body,
        )


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt to deliver an event: when, the receiver's status code, latency, error."""

    attempted_at: datetime | None
    status_code: int | None
    latency_ms: int | None
    error: str | None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DeliveryAttempt:
        return cls(
            attempted_at=_instant(body.get("attemptedAt")),
            status_code=_int(body.get("statusCode")),
            latency_ms=_int(body.get("latencyMs")),
            error=body.get("error"),
        )


@dataclass(frozen=True)
class Delivery:
    """One event's delivery to one subscription, with its attempts."""

    id: int
    event_id: str
    event_type: str
    status: str
    next_attempt_at: datetime | None
    created_at: datetime | None
    attempts: list[DeliveryAttempt]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Delivery:
        return cls(
            id=int(body["id"]),
            event_id=str(body["eventId"]),
            event_type=str(body["eventType"]),
            status=str(body["status"]),
            next_attempt_at=_instant(body.get("nextAttemptAt")),
            created_at=_instant(body.get("createdAt")),
            attempts=[DeliveryAttempt.from_json(a) for a in body.get("attempts") or []],
            raw=body,
        )


# --- the sandbox and the events feed --------------------------------------------------------


@dataclass(frozen=True)
class SandboxScenario:
    """A scenario a sandbox fixture plays: what the fixture is, and what cancelling it does."""

    scenario: str
    description: str
    outcome: str

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SandboxScenario:
        return cls(
            scenario=str(body["scenario"]),
            description=str(body.get("description", "")),
            outcome=str(body.get("outcome", "")),
        )


@dataclass(frozen=True)
class ScenarioCatalogue:
    """Every scenario of the sandbox, by kind of fixture (the names are a public contract)."""

    appointments: list[SandboxScenario]
    services: list[SandboxScenario]
    ux: list[SandboxScenario]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ScenarioCatalogue:
        def kind(name: str) -> list[SandboxScenario]:
            return [SandboxScenario.from_json(item) for item in body.get(name) or []]

        return cls(
            appointments=kind("appointments"), services=kind("services"), ux=kind("ux"), raw=body
        )


@dataclass(frozen=True)
class AppointmentFixture:
    """An appointment the sandbox made to play a scenario: cancel it by `appointment_id`."""

    appointment_id: int
    nbn_appointment_id: str
    scenario: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> AppointmentFixture:
        return cls(
            appointment_id=int(body["appointmentId"]),
            nbn_appointment_id=str(body.get("nbnAppointmentId", "")),
            scenario=str(body.get("scenario", "")),
            raw=body,
        )


@dataclass(frozen=True)
class ServiceFixture:
    """A service the sandbox made to play a scenario: cancel it by `service_id`."""

    service_id: int
    nbn_service_id: str
    scenario: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ServiceFixture:
        return cls(
            service_id=int(body["serviceId"]),
            nbn_service_id=str(body.get("nbnServiceId", "")),
            scenario=str(body.get("scenario", "")),
            raw=body,
        )


@dataclass(frozen=True)
class UxAppointmentFixture:
    """A UX appointment the sandbox made to play a CSG scenario: cancel it with the UX PATCH."""

    id: str
    business_id: str
    order_class: str
    billing_account: str | None
    scenario: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> UxAppointmentFixture:
        return cls(
            id=str(body["id"]),
            business_id=str(body.get("businessId", "")),
            order_class=str(body.get("orderClass", "")),
            billing_account=body.get("billingAccount"),
            scenario=str(body.get("scenario", "")),
            raw=body,
        )


@dataclass(frozen=True)
class SandboxClock:
    """A tenant's test clock: now on it (in the business time zone), and how far ahead it runs."""

    now: datetime
    offset_seconds: float
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> SandboxClock:
        return cls(
            now=datetime.fromisoformat(str(body["now"])),
            offset_seconds=float(body.get("offsetSeconds", 0)),
            raw=body,
        )


@dataclass(frozen=True)
class Event:
    """One of the tenant's events, as its webhooks carry it: the payload is a delivery's body.

    From the events feed: with `occurred_at` and the delivery `headers`. From the event stream:
    id, type and payload only (`occurred_at` None, `headers` empty).
    """

    id: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime | None
    headers: dict[str, str]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Event:
        headers = body.get("headers")
        return cls(
            id=str(body["id"]),
            type=str(body["type"]),
            payload=dict(body.get("payload") or {}),
            occurred_at=_instant(body.get("occurredAt")),
            headers={str(k): str(v) for k, v in headers.items()}
            if isinstance(headers, dict)
            else {},
            raw=body,
        )
