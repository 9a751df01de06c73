"""Every query of the webhooks context, scoped by tenant where a caller is involved."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.webhooks.models import WebhookSubscription


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
