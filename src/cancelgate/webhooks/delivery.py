"""One delivery attempt: sign, POST, record the attempt and decide what comes next.

Each attempt is its own job; the next one is deferred in the transaction that records this
one, so a crash between them loses nothing (the stalled job is retried: at least once).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from cancelgate import __version__
from cancelgate.connect.formats import instant
from cancelgate.egress import TargetRefused
from cancelgate.events.models import Event
from cancelgate.jobs.app import jobs_app
from cancelgate.jobs.context import current
from cancelgate.runtime import Runtime
from cancelgate.webhooks import policy
from cancelgate.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from cancelgate.webhooks.outbox import DELIVER_TASK, PENDING, defer_attempt
from cancelgate.webhooks.repository import delivery_with_subscription_and_event
from cancelgate.webhooks.signing import signature_header, unseal

log = structlog.get_logger(__name__)

USER_AGENT = f"cancelgate-webhooks/{__version__}"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
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


def build_request(
    subscription: WebhookSubscription, event: Event, secrets_in_use: list[str], now: datetime
) -> Outgoing:
    """The POST for an event: JSON payload, z-* headers, Standard Webhooks signature."""
    body = json.dumps(event.payload, separators=(",", ":")).encode()
    message_id = str(event.id)
    timestamp = int(now.timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "z-event-type": f"{event.type}.event",
        "z-notification-type": f"{event.type}.notification",
        "z-notification-model": event.model,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_in_use, message_id, timestamp, body),
    }
    return Outgoing(subscription.url, body, headers)


def secrets_in_use(key: bytes, subscription: WebhookSubscription, now: datetime) -> list[str]:
    """The current secret, and the previous one while its 24 hours of grace last."""
    found = [unseal(key, subscription.secret_sealed)]
    expires = subscription.previous_secret_expires_at
    if subscription.previous_secret_sealed and expires is not None and now < expires:
        found.append(unseal(key, subscription.previous_secret_sealed))
    return found


async def _prepare(runtime: Runtime, delivery_id: int) -> Outgoing | None:
    async with runtime.sessions.begin() as session:
        found = await delivery_with_subscription_and_event(session, delivery_id)
        if found is None or found[0].status != PENDING:
            return None
        delivery, subscription, event = found
        if subscription is None or event is None or not subscription.enabled:
            delivery.status = CANCELLED
            return None
        now = datetime.now(UTC)
        return build_request(
            subscription, event, secrets_in_use(runtime.keys.sealing_key, subscription, now), now
        )


async def send(http: httpx.AsyncClient, outgoing: Outgoing) -> Answer:
    """POST a signed request once; every failure is an answer to record, never an exception."""
    started = time.monotonic()
    try:
        # The egress client checks the URL again, resolves it once, dials a checked address.
        response = await http.post(outgoing.url, content=outgoing.body, headers=outgoing.headers)
    except TargetRefused as exc:
        return Answer(None, _since(started), f"refused: {exc}"[:500], None)
    except httpx.HTTPError as exc:
        return Answer(None, _since(started), f"{type(exc).__name__}: {exc}"[:500], None)
    return Answer(response.status_code, _since(started), None, response.headers.get("retry-after"))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def _record(runtime: Runtime, delivery_id: int, answer: Answer) -> None:
    settings = runtime.settings
    async with runtime.sessions.begin() as session:
        delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None or delivery.status != PENDING:
            return
        subscription = await session.get(
            WebhookSubscription, delivery.subscription_id, with_for_update=True
        )
        assert subscription is not None  # deliveries are deleted with their subscription
        now = datetime.now(UTC)
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempted_at=now,
                status_code=answer.status_code,
                latency_ms=answer.latency_ms,
                error=answer.error,
            )
        )
        delivery.attempts += 1
        delivery.next_attempt_at = None
        verdict = policy.verdict(answer.status_code)
        if verdict == policy.Verdict.DELIVERED:
            delivery.status = SUCCEEDED
            subscription.failing_since = None
            return
        if verdict == policy.Verdict.GONE:
            delivery.status = FAILED
            subscription.enabled, subscription.disabled_reason = False, GONE_REASON
            return
        subscription.failing_since = subscription.failing_since or now
        if policy.should_disable(
            subscription.failing_since, now, settings.webhook_disable_after_seconds
        ):
            delivery.status = FAILED
            subscription.enabled = False
            since = instant(subscription.failing_since)
            subscription.disabled_reason = (
                f"Deliveries have failed without a break since {since}, "
                "so the subscription was disabled."
            )
            return
        asked = policy.retry_after_seconds(answer.status_code, answer.retry_after, now)
        wait = policy.next_wait(settings.webhook_retry_schedule, delivery.attempts, asked)
        if wait is None:
            delivery.status = FAILED
            return
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        await defer_attempt(session, delivery.id, delivery.next_attempt_at)


@jobs_app.task(name=DELIVER_TASK)
async def deliver(delivery_id: int) -> None:
    """One attempt of a delivery; the next is scheduled if this one did not succeed."""
    runtime = current()
    outgoing = await _prepare(runtime, delivery_id)
    if outgoing is None:
        return
    answer = await send(runtime.webhook_http, outgoing)
    log.info(
        "webhook_attempt",
        delivery_id=delivery_id,
        status_code=answer.status_code,
        latency_ms=answer.latency_ms,
        error=answer.error,
    )
    await _record(runtime, delivery_id, answer)
