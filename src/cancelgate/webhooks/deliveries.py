"""The delivery log of a subscription, redelivery, and the test event.

Each takes the caller's unit of work and what else it needs as arguments; none commits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from cancelgate.auth.identity import Principal
from cancelgate.db.database import UnitOfWork
from cancelgate.domain.errors import NotFound, RuleViolation, SubError
from cancelgate.webhooks import events, repository
from cancelgate.webhooks.repository import PENDING, AttemptRow, DeliveryRow
from cancelgate.webhooks.subscriptions import owned

TEST_EVENT = "webhook.test"


@dataclass(frozen=True)
class DeliveryView:
    """A delivery, its event type and its attempts."""

    delivery: DeliveryRow
    event_type: str
    attempts: tuple[AttemptRow, ...] = ()


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
    uow: UnitOfWork, *, principal: Principal, subscription_id: int
) -> list[DeliveryView]:
    """The caller's subscription's latest deliveries with every attempt; NotFound unless the
    subscription is the caller's."""
    log = await repository.delivery_log(uow, principal.tenant_id, subscription_id)
    if log is None:
        raise NotFound(subscription_id)
    return [DeliveryView(delivery, kind, tuple(attempts)) for delivery, kind, attempts in log]


async def redeliver(
    uow: UnitOfWork, *, tenant_id: int, subscription_id: int, delivery_id: int
) -> DeliveryView:
    """Send a delivery of the tenant's subscription (the caller's, or any for an operator of
    the installation) again now (same webhook-id); it is pending until an attempt succeeds."""
    found = await repository.delivery_of_subscription(uow, tenant_id, subscription_id, delivery_id)
    if found is None:
        raise NotFound(delivery_id)
    delivery, enabled, event_type = found
    if not enabled:
        raise disabled()
    if delivery.status != PENDING:
        # A pending delivery has its next attempt queued already; any other needs one.
        await repository.set_delivery_status(uow, delivery.id, PENDING)
        await events.defer_attempt(uow, delivery.id)
        delivery = replace(delivery, status=PENDING)
    return DeliveryView(delivery, event_type)


async def send_test_event(
    uow: UnitOfWork, *, principal: Principal, subscription_id: int
) -> DeliveryView:
    """A `webhook.test` event delivered to this subscription only."""
    found = await owned(uow, principal, subscription_id)
    if not found.enabled:
        raise disabled()
    event_id = await events.add_event(
        uow,
        tenant_id=principal.tenant_id,
        event_type=TEST_EVENT,
        model="webhook",
        subject_id=found.id,
        payload={"subscriptionId": found.id, "message": "cancelgate test event"},
    )
    delivery = await events.add_delivery(
        uow, tenant_id=principal.tenant_id, subscription_id=found.id, event_id=event_id
    )
    return DeliveryView(delivery, TEST_EVENT)
