"""The delivery log of a subscription, redelivery, and the test event."""

from __future__ import annotations

from dataclasses import dataclass, field

from cancelgate.auth.principal import Principal
from cancelgate.domain.errors import NotFound, RuleViolation, SubError
from cancelgate.events.models import Event
from cancelgate.runtime import Runtime
from cancelgate.webhooks import repository
from cancelgate.webhooks.models import WebhookAttempt, WebhookDelivery
from cancelgate.webhooks.outbox import PENDING, defer_attempt, enqueue_delivery
from cancelgate.webhooks.subscriptions import owned

TEST_EVENT = "webhook.test"
LOG_LIMIT = 100


@dataclass
class DeliveryView:
    """A delivery, its event type and its attempts."""

    delivery: WebhookDelivery
    event_type: str
    attempts: list[WebhookAttempt] = field(default_factory=list)


def disabled() -> RuleViolation:
    """Refusal to send to a disabled subscription."""
    return RuleViolation(
        [
            SubError(
                "constraints.webhook.subscription.disabled",
                "The subscription is disabled; enable it first",
                "WebhookSubscription",
                "enabled",
                False,
            )
        ]
    )


async def delivery_log(
    runtime: Runtime, *, principal: Principal, subscription_id: int
) -> list[DeliveryView]:
    """The caller's subscription's latest deliveries with every attempt."""
    async with runtime.sessions() as session:
        await owned(session, principal, subscription_id)  # 404 unless it is the caller's
        rows = await repository.deliveries_of(session, subscription_id, LOG_LIMIT)
        views = {d.id: DeliveryView(d, kind) for d, kind in rows}
        for attempt in await repository.attempts_of(session, list(views)):
            views[attempt.delivery_id].attempts.append(attempt)
    return list(views.values())


async def redeliver(
    runtime: Runtime, *, principal: Principal, subscription_id: int, delivery_id: int
) -> DeliveryView:
    """Send a delivery again now (same webhook-id); it is pending until an attempt succeeds."""
    async with runtime.sessions.begin() as session:
        found = await repository.subscription_for_tenant(
            session, principal.tenant_id, subscription_id
        )
        delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if found is None or delivery is None or delivery.subscription_id != found.id:
            raise NotFound(delivery_id)
        if not found.enabled:
            raise disabled()
        event = await session.get(Event, delivery.event_id)
        assert event is not None
        if delivery.status != PENDING:
            delivery.status = PENDING
            await defer_attempt(session, delivery.id)
        await session.flush()
        await session.refresh(delivery)
        return DeliveryView(delivery, event.type)


async def send_test_event(
    runtime: Runtime, *, principal: Principal, subscription_id: int
) -> DeliveryView:
    """A `webhook.test` event delivered to this subscription only."""
    async with runtime.sessions.begin() as session:
        found = await owned(session, principal, subscription_id)
        if not found.enabled:
            raise disabled()
        event = Event(
            tenant_id=principal.tenant_id,
            type=TEST_EVENT,
            model="webhook",
            subject_id=found.id,
            payload={"subscriptionId": found.id, "message": "cancelgate test event"},
        )
        session.add(event)
        await session.flush()
        delivery = await enqueue_delivery(session, event, found.id)
        await session.refresh(delivery)
        return DeliveryView(delivery, TEST_EVENT)
