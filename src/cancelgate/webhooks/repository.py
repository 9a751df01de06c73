"""Every query of the webhooks context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.events.models import Event
from cancelgate.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

# Built once: every delivery attempt runs it. Outer joins, so that a delivery whose
# subscription or event is gone is still found (and cancelled).
DELIVERY_WITH_SUBSCRIPTION_AND_EVENT = (
    select(WebhookDelivery, WebhookSubscription, Event)
    .outerjoin(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    .outerjoin(Event, Event.id == WebhookDelivery.event_id)
    .where(WebhookDelivery.id == bindparam("delivery_id"))
)


async def delivery_with_subscription_and_event(
    session: AsyncSession, delivery_id: int
) -> tuple[WebhookDelivery, WebhookSubscription | None, Event | None] | None:
    """A delivery with its subscription and event, in one round trip; None if it is gone."""
    row = (
        await session.execute(DELIVERY_WITH_SUBSCRIPTION_AND_EVENT, {"delivery_id": delivery_id})
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


async def subscription_for_tenant(
    session: AsyncSession, tenant_id: int, subscription_id: int
) -> WebhookSubscription | None:
    """The tenant's subscription, or None if it does not exist or is someone else's."""
    stmt = select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id, WebhookSubscription.tenant_id == tenant_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def subscriptions_of(session: AsyncSession, tenant_id: int) -> list[WebhookSubscription]:
    """The tenant's subscriptions, oldest first."""
    stmt = (
        select(WebhookSubscription)
        .where(WebhookSubscription.tenant_id == tenant_id)
        .order_by(WebhookSubscription.id)
    )
    return list((await session.execute(stmt)).scalars())


async def deliveries_of(
    session: AsyncSession, subscription_id: int, limit: int
) -> list[tuple[WebhookDelivery, str]]:
    """The subscription's latest deliveries with their event types, newest first."""
    stmt = (
        select(WebhookDelivery, Event.type)
        .join(Event, Event.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in await session.execute(stmt)]


async def attempts_of(session: AsyncSession, delivery_ids: list[int]) -> list[WebhookAttempt]:
    """The attempts of these deliveries, oldest first."""
    stmt = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id)
    )
    return list((await session.execute(stmt)).scalars())
