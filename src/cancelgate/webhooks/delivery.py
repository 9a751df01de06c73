"""One delivery attempt: sign, POST, record the attempt and decide what comes next.

Each attempt is its own job; the next one is deferred in the transaction that records this
one, so a crash between them loses nothing (the stalled job is retried: at least once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import structlog
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util.types import AttributeValue

from cancelgate import __version__
from cancelgate.connect.formats import instant
from cancelgate.db.database import UnitOfWork
from cancelgate.egress import TargetRefused
from cancelgate.observability import metrics
from cancelgate.observability.tracing import span, tracing_on
from cancelgate.webhooks import events, policy, repository
from cancelgate.webhooks.repository import (
    FAILED,
    PENDING,
    SUCCEEDED,
    EventRow,
    Health,
    SubscriptionRow,
)
from cancelgate.webhooks.signing import signature_header, unseal

log = structlog.get_logger(__name__)

USER_AGENT = f"cancelgate-webhooks/{__version__}"
GONE_REASON = "The endpoint answered 410 Gone, so the subscription was disabled."


@dataclass(frozen=True)
class Outgoing:
    """A signed request ready to send."""

    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    """What one attempt got back."""

    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: str | None


def event_body(event: EventRow) -> bytes:
    """An event's payload as every delivery sends it (and the events stream's `data:`): JSON
    on one line, keys in their documented order."""
    return json.dumps(event.payload, separators=(",", ":")).encode()


def event_headers(event: EventRow) -> dict[str, str]:
    """The headers of an event's deliveries that are the event's own: the same for every
    subscription and attempt (the events feed shows them). Not the sender's `User-Agent`, nor
    `webhook-timestamp` and `webhook-signature`, which each attempt makes for its subscription."""
    return {
        "Content-Type": "application/json",
        "z-event-type": f"{event.type}.event",
        "z-notification-type": f"{event.type}.notification",
        "z-notification-model": event.model,
        "webhook-id": str(event.id),
    }


def build_request(
    subscription: SubscriptionRow, event: EventRow, secrets_in_use: list[str], now: datetime
) -> Outgoing:
    """The POST for an event: JSON payload, z-* headers, Standard Webhooks signature."""
    body = event_body(event)
    headers = event_headers(event)
    message_id = headers["webhook-id"]
    timestamp = int(now.timestamp())
    headers["User-Agent"] = USER_AGENT
    headers["webhook-timestamp"] = str(timestamp)
    headers["webhook-signature"] = signature_header(secrets_in_use, message_id, timestamp, body)
    return Outgoing(subscription.url, body, headers)


def secrets_in_use(key: bytes, subscription: SubscriptionRow, now: datetime) -> list[str]:
    """The current secret, and the previous one while its 24 hours of grace last."""
    found = [unseal(key, subscription.secret_sealed)]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret_sealed and expires is not None and now < expires:
        found.append(unseal(key, subscription.previous_secret_sealed))
    return found


async def send(http: httpx.AsyncClient, outgoing: Outgoing) -> Answer:
    """POST a signed request once; every failure is an answer to record, never an exception."""
    started = time.monotonic()
    try:
        # The egress client checks the URL again, resolves it once, dials a checked address.
        response = await http.post(outgoing.url, content=outgoing.body, headers=outgoing.headers)
    except TargetRefused as exc:
        metrics.count_webhook_attempt("refused")
        return Answer(None, _since(started), f"refused: {exc}"[:500], None)
    except httpx.HTTPError as exc:
        timed_out = isinstance(exc, httpx.TimeoutException)
        metrics.count_webhook_attempt("timeout" if timed_out else "error")
        return Answer(None, _since(started), f"{type(exc).__name__}: {exc}"[:500], None)
    metrics.count_webhook_attempt(metrics.webhook_outcome(response.status_code))
    return Answer(response.status_code, _since(started), None, response.headers.get("retry-after"))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def _traced_send(
    http: httpx.AsyncClient, outgoing: Outgoing, delivery_id: int, event: EventRow
) -> Answer:
    """`send`, in span `webhook attempt` while tracing is on. No `traceparent` goes to the
    receiver (a tenant's: our traces are not theirs to join), and the span names the URL's host
    only (a path or query may hold the receiver's secret)."""
    if not tracing_on():
        return await send(http, outgoing)
    attributes: dict[str, AttributeValue] = {
        "cancelgate.delivery.id": delivery_id,
        "cancelgate.event.id": str(event.id),
        "cancelgate.event.type": event.type,
        "http.request.method": "POST",
        "server.address": urlsplit(outgoing.url).hostname or "",
    }
    with span("webhook attempt", kind=SpanKind.CLIENT, attributes=attributes) as current:
        answer = await send(http, outgoing)
        if answer.status_code is not None:
            current.set_attribute("http.response.status_code", answer.status_code)
        if answer.status_code is None or not 200 <= answer.status_code < 300:
            current.set_status(StatusCode.ERROR, answer.error or f"HTTP {answer.status_code}")
    return answer


async def attempt(
    uow: UnitOfWork,
    *,
    delivery_id: int,
    http: httpx.AsyncClient,
    sealing_key: bytes,
    retry_schedule: Sequence[float],
    disable_after_seconds: float,
) -> None:
    """One attempt of a delivery: read it, send it (holding no connection), then record the
    attempt and decide what comes next in the unit's transaction; the next attempt, if any, is
    deferred in that same transaction, so a crash between them loses nothing."""
    found = await repository.delivery_with_subscription_and_event(uow, delivery_id)
    if found is None or found[0].status != PENDING:
        return
    _, subscription, event = found
    if subscription is None or event is None or not subscription.enabled:
        await repository.cancel_pending_delivery(uow, delivery_id)
        return
    now = datetime.now(UTC)
    outgoing = build_request(
        subscription, event, secrets_in_use(sealing_key, subscription, now), now
    )
    answer = await _traced_send(http, outgoing, delivery_id, event)
    log.info(
        "webhook_attempt",
        delivery_id=delivery_id,
        status_code=answer.status_code,
        latency_ms=answer.latency_ms,
        error=answer.error,
    )
    await _record(
        uow,
        delivery_id,
        answer,
        retry_schedule=retry_schedule,
        disable_after_seconds=disable_after_seconds,
    )


@dataclass(frozen=True)
class _Next:
    """What an attempt's answer makes of its delivery and subscription."""

    status: str
    next_attempt_at: datetime | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None


def _decide(
    health: Health,
    answer: Answer,
    now: datetime,
    *,
    retry_schedule: Sequence[float],
    disable_after_seconds: float,
) -> _Next:
    """The delivery rules (policy) applied to one answer."""
    unchanged = (health.enabled, health.disabled_reason)
    verdict = policy.verdict(answer.status_code)
    if verdict == policy.Verdict.DELIVERED:
        return _Next(SUCCEEDED, None, *unchanged, None)
    if verdict == policy.Verdict.GONE:
        return _Next(FAILED, None, False, GONE_REASON, health.failing_since)
    failing_since = health.failing_since or now
    if policy.should_disable(failing_since, now, disable_after_seconds):
        reason = (
            f"Deliveries have failed without a break since {instant(failing_since)}, "
            "so the subscription was disabled."
        )
        return _Next(FAILED, None, False, reason, failing_since)
    attempts = health.attempts + 1
    asked = policy.retry_after_seconds(answer.status_code, answer.retry_after, now)
    wait = policy.next_wait(retry_schedule, attempts, asked)
    if wait is None:
        return _Next(FAILED, None, *unchanged, failing_since)
    return _Next(PENDING, now + timedelta(seconds=wait), *unchanged, failing_since)


async def _record(
    uow: UnitOfWork,
    delivery_id: int,
    answer: Answer,
    *,
    retry_schedule: Sequence[float],
    disable_after_seconds: float,
) -> None:
    """Record the attempt and what follows from it, both rows held meanwhile."""
    health = await repository.health_locked(uow, delivery_id)
    if health is None or health.status != PENDING:
        return
    now = datetime.now(UTC)
    then = _decide(
        health,
        answer,
        now,
        retry_schedule=retry_schedule,
        disable_after_seconds=disable_after_seconds,
    )
    await repository.record_attempt(
        uow,
        delivery_id,
        attempted_at=now,
        status_code=answer.status_code,
        latency_ms=answer.latency_ms,
        error=answer.error,
        status=then.status,
        next_attempt_at=then.next_attempt_at,
    )
    record = (then.enabled, then.disabled_reason, then.failing_since)
    # Written only when it changes: the subscription's updatedAt moves only then.
    if record != (health.enabled, health.disabled_reason, health.failing_since):
        await repository.set_subscription_health(
            uow,
            health.subscription_id,
            enabled=then.enabled,
            disabled_reason=then.disabled_reason,
            failing_since=then.failing_since,
        )
    if then.next_attempt_at is not None:
        await events.defer_attempt(uow, delivery_id, then.next_attempt_at)
