"""From recorded events to deliveries: one durable job per (event, subscription)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.events.models import Event
from cancelgate.jobs.app import defer_in
from cancelgate.webhooks.models import WebhookDelivery, WebhookSubscription

DELIVER_TASK = "webhooks.deliver"
PENDING = "pending"


async def defer_attempt(
    session: AsyncSession, delivery_id: int, at: datetime | None = None
) -> None:
    """Schedule the next attempt of a delivery, in the caller's transaction."""
    await defer_in(session, DELIVER_TASK, schedule_at=at, delivery_id=delivery_id)


async def enqueue_delivery(
    session: AsyncSession, event: Event, subscription_id: int
) -> WebhookDelivery:
    """A pending delivery of the event to one subscription, and its first attempt's job."""
    delivery = WebhookDelivery(
        tenant_id=event.tenant_id,
        subscription_id=subscription_id,
        event_id=event.id,
        status=PENDING,
        attempts=0,
    )
    session.add(delivery)
    await session.flush()
    await defer_attempt(session, delivery.id)
    return delivery


# Built once: every recorded event asks it.
SUBSCRIBERS = select(WebhookSubscription.id).where(
    WebhookSubscription.tenant_id == bindparam("tenant_id"),
    WebhookSubscription.enabled.is_(True),
    WebhookSubscription.events.contains(bindparam("events", type_=WebhookSubscription.events.type)),
)


async def enqueue_deliveries(session: AsyncSession, event: Event) -> int:
    """Deliveries of the event to every enabled subscription of its tenant that wants it."""
    if event.tenant_id is None:
        return 0
    params = {"tenant_id": event.tenant_id, "events": [event.type]}
    subscription_ids = list((await session.execute(SUBSCRIBERS, params)).scalars())
    for subscription_id in subscription_ids:
        await enqueue_delivery(session, event, subscription_id)
    return len(subscription_ids)
