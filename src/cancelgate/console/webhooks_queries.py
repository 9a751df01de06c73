"""The statements of the webhooks pages: subscriptions and deliveries of every tenant (the
lists' per combination of filters, compiled on first use), one delivery with its attempts, and
the failed deliveries a replay sends again.

What the pages change goes through the webhooks package's own use cases (one source of truth);
these statements only read, and find the tenant those use cases are scoped by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, literal_column, select

from cancelgate.auth.models import Tenant
from cancelgate.console.paging import NO_CURSOR, PAGE_SIZE, page_of
from cancelgate.db.database import Database, compiled, fields_of
from cancelgate.webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription
from cancelgate.webhooks.repository import DELIVERY_COLUMNS, FAILED, AttemptRow, DeliveryRow

# The most failed deliveries one replay sends again (each is its own redelivery, a few
# statements): the operator replays again for the rest.
REPLAY_LIMIT = 1000


@dataclass(frozen=True)
class SubscriptionListRow:
    """A subscription as the list shows it (never its secrets)."""

    id: int
    tenant: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


_SUBSCRIPTIONS = select(
    WebhookSubscription.id,
    Tenant.name,
    WebhookSubscription.url,
    WebhookSubscription.events,
    WebhookSubscription.description,
    WebhookSubscription.enabled,
    WebhookSubscription.disabled_reason,
    WebhookSubscription.failing_since,
    WebhookSubscription.created_at,
).join(Tenant, Tenant.id == WebhookSubscription.tenant_id)


@cache
def _subscriptions_page(tenant: bool) -> Any:
    """The subscriptions list's statement, with or without the tenant filter."""
    statement = _SUBSCRIPTIONS.where(WebhookSubscription.id < bindparam("before"))
    if tenant:
        statement = statement.where(Tenant.name == bindparam("tenant"))
    return compiled(statement.order_by(WebhookSubscription.id.desc()).limit(PAGE_SIZE + 1))


async def subscriptions_page(
    database: Database, *, before: int | None, tenant: str | None
) -> tuple[list[SubscriptionListRow], int | None]:
    """A page of subscriptions, newest first, and the cursor of the next (or None)."""
    rows = await database.all(
        _subscriptions_page(tenant is not None),
        {"before": NO_CURSOR if before is None else before, "tenant": tenant},
    )
    return page_of(rows, SubscriptionListRow)


@dataclass(frozen=True)
class DeliveryListRow:
    """A delivery as the list shows it."""

    id: int
    tenant: str
    subscription_id: int
    url: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


_DELIVERIES = (
    select(
        WebhookDelivery.id,
        Tenant.name,
        WebhookDelivery.subscription_id,
        WebhookSubscription.url,
        Event.type,
        WebhookDelivery.status,
        WebhookDelivery.attempts,
        WebhookDelivery.next_attempt_at,
        WebhookDelivery.created_at,
    )
    .join(Tenant, Tenant.id == WebhookDelivery.tenant_id)
    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    .join(Event, Event.id == WebhookDelivery.event_id)
)


@cache
def _deliveries_page(subscription: bool, status: bool) -> Any:
    """The deliveries list's statement for one combination of filters (each its own plan)."""
    statement = _DELIVERIES.where(WebhookDelivery.id < bindparam("before"))
    if subscription:
        statement = statement.where(WebhookDelivery.subscription_id == bindparam("subscription"))
    if status:
        statement = statement.where(WebhookDelivery.status == bindparam("status"))
    return compiled(statement.order_by(WebhookDelivery.id.desc()).limit(PAGE_SIZE + 1))


async def deliveries_page(
    database: Database, *, before: int | None, subscription: int | None, status: str | None
) -> tuple[list[DeliveryListRow], int | None]:
    """A page of deliveries, newest first, and the cursor of the next (or None)."""
    rows = await database.all(
        _deliveries_page(subscription is not None, status is not None),
        {
            "before": NO_CURSOR if before is None else before,
            "subscription": subscription,
            "status": status,
        },
    )
    return page_of(rows, DeliveryListRow)


@dataclass(frozen=True)
class DeliveryDetail:
    """One delivery (the delivery log's row), whose it is, and every attempt of it."""

    delivery: DeliveryRow
    tenant_id: int
    tenant: str
    url: str
    description: str | None
    subscription_enabled: bool
    event_type: str
    attempts: list[AttemptRow]


DELIVERY_DETAIL = compiled(
    select(
        *DELIVERY_COLUMNS,
        WebhookDelivery.tenant_id,
        Tenant.name,
        WebhookSubscription.url,
        WebhookSubscription.description,
        WebhookSubscription.enabled,
        Event.type,
    )
    .join(Tenant, Tenant.id == WebhookDelivery.tenant_id)
    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    .join(Event, Event.id == WebhookDelivery.event_id)
    .where(WebhookDelivery.id == bindparam("delivery_id"))
)
DELIVERY_ATTEMPTS = compiled(
    # The delivery log's own row: one shape for an attempt wherever it is shown.
    select(*fields_of(WebhookAttempt, AttemptRow))
    .where(WebhookAttempt.delivery_id == bindparam("delivery_id"))
    .order_by(WebhookAttempt.id)
)


async def delivery_detail(database: Database, delivery_id: int) -> DeliveryDetail | None:
    """The delivery with its subscription, event type and attempts (2 reads); None if none."""
    params = {"delivery_id": delivery_id}
    row = await database.one(DELIVERY_DETAIL, params)
    if row is None:
        return None
    split = len(DELIVERY_COLUMNS)
    attempts = [AttemptRow(*found) for found in await database.all(DELIVERY_ATTEMPTS, params)]
    tenant_id, tenant, url, description, enabled, event_type = row[split:]
    return DeliveryDetail(
        DeliveryRow(*row[:split]),
        tenant_id,
        tenant,
        url,
        description,
        enabled,
        event_type,
        attempts,
    )


DELIVERY_OWNER = compiled(
    select(WebhookDelivery.tenant_id, WebhookDelivery.subscription_id).where(
        WebhookDelivery.id == bindparam("delivery_id")
    )
)
SUBSCRIPTION_TENANT = compiled(
    select(WebhookSubscription.tenant_id).where(
        WebhookSubscription.id == bindparam("subscription_id")
    )
)
TENANT_BY_NAME = compiled(select(Tenant.id).where(Tenant.name == bindparam("name")))


async def delivery_owner(database: Database, delivery_id: int) -> tuple[int, int] | None:
    """The tenant and subscription of a delivery (what the redelivery is scoped by), or None."""
    row = await database.one(DELIVERY_OWNER, {"delivery_id": delivery_id})
    return None if row is None else (row[0], row[1])


async def subscription_tenant(database: Database, subscription_id: int) -> int | None:
    """The tenant of a subscription, or None if there is no such subscription."""
    row = await database.one(SUBSCRIPTION_TENANT, {"subscription_id": subscription_id})
    return None if row is None else int(row[0])


async def tenant_id_of(database: Database, name: str) -> int | None:
    """The id of the tenant of that name, or None."""
    row = await database.one(TENANT_BY_NAME, {"name": name})
    return None if row is None else int(row[0])


@cache
def _failed_since(subscription: bool) -> Any:
    """The failed deliveries of a tenant (or of one of its subscriptions) created since an
    instant, of enabled subscriptions, oldest first: what a replay sends again."""
    statement = (
        select(WebhookDelivery.id, WebhookDelivery.subscription_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            # Written into the statement, not bound: a partial index on failed deliveries
            # serves even a generic plan of the prepared statement.
            WebhookDelivery.status == literal_column(f"'{FAILED}'"),
            WebhookDelivery.tenant_id == bindparam("tenant_id"),
            WebhookDelivery.created_at >= bindparam("since"),
            WebhookSubscription.enabled,
        )
    )
    if subscription:
        statement = statement.where(WebhookDelivery.subscription_id == bindparam("subscription"))
    return compiled(
        statement.order_by(WebhookDelivery.created_at, WebhookDelivery.id).limit(REPLAY_LIMIT)
    )


async def failed_since(
    database: Database, *, tenant_id: int, subscription: int | None, since: datetime
) -> list[tuple[int, int]]:
    """(delivery, subscription) of up to REPLAY_LIMIT failed deliveries to replay."""
    rows = await database.all(
        _failed_since(subscription is not None),
        {"tenant_id": tenant_id, "subscription": subscription, "since": since},
    )
    return [(row[0], row[1]) for row in rows]
