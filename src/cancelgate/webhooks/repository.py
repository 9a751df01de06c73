"""Every statement of the webhooks context, built and compiled once; scoped by tenant wherever a
caller is involved. Rows come back as plain dataclasses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    String,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    text,
    true,
    update,
)

from cancelgate.db.database import UnitOfWork, compiled, fields_of
from cancelgate.webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
OWNER_DISABLED = "disabled by its owner"
LOG_LIMIT = 100


@dataclass(frozen=True)
class SubscriptionRow:
    """A subscription as its owner sees it and its deliveries need it (secrets sealed)."""

    id: int
    tenant_id: int
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    secret_sealed: str
    previous_secret_sealed: str | None
    previous_secret_expires_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeliveryRow:
    """A delivery as its log and its attempts need it."""

    id: int
    subscription_id: int
    event_id: uuid.UUID
    status: str
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class EventRow:
    """What a delivery sends of its event."""

    id: uuid.UUID
    type: str
    model: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class AttemptRow:
    """One attempt of a delivery, as the delivery log shows it."""

    delivery_id: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


@dataclass(frozen=True)
class Health:
    """A delivery and its subscription's record of failure, locked while an attempt is recorded."""

    status: str
    attempts: int
    subscription_id: int
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None


_SUBSCRIPTION = fields_of(WebhookSubscription, SubscriptionRow)
DELIVERY_COLUMNS = fields_of(WebhookDelivery, DeliveryRow)
_EVENT = fields_of(Event, EventRow)
_ATTEMPT = fields_of(WebhookAttempt, AttemptRow)
_OWNED = and_(
    WebhookSubscription.id == bindparam("subscription_id"),
    WebhookSubscription.tenant_id == bindparam("tenant_id"),
)

SUBSCRIPTION_FOR_TENANT = compiled(select(*_SUBSCRIPTION).where(_OWNED))
SUBSCRIPTIONS_OF = compiled(
    select(*_SUBSCRIPTION)
    .where(WebhookSubscription.tenant_id == bindparam("tenant_id"))
    .order_by(WebhookSubscription.id)
)
INSERT_SUBSCRIPTION = compiled(
    insert(WebhookSubscription)
    .values(
        tenant_id=bindparam("tenant_id"),
        url=bindparam("url"),
        events=bindparam("events"),
        description=bindparam("description"),
        enabled=True,
        secret_sealed=bindparam("secret_sealed"),
    )
    .returning(*_SUBSCRIPTION)
)

# PATCH in one statement: each field changes only when given (a NULL parameter leaves it), so a
# delivery that disables the subscription meanwhile is never overwritten by fields not sent.
_NEW_URL = bindparam("url", type_=String)
_NEW_EVENTS = bindparam("events", type_=ARRAY(String))
_SET_DESCRIPTION = bindparam("set_description", type_=Boolean)
_NEW_DESCRIPTION = bindparam("description", type_=String)
_NEW_ENABLED = bindparam("enabled", type_=Boolean)
_ENABLED_CHANGES = and_(
    _NEW_ENABLED.is_not(None), WebhookSubscription.enabled.is_distinct_from(_NEW_ENABLED)
)
_ANY_CHANGE = or_(
    and_(_NEW_URL.is_not(None), WebhookSubscription.url.is_distinct_from(_NEW_URL)),
    and_(_NEW_EVENTS.is_not(None), WebhookSubscription.events.is_distinct_from(_NEW_EVENTS)),
    and_(_SET_DESCRIPTION, WebhookSubscription.description.is_distinct_from(_NEW_DESCRIPTION)),
    _ENABLED_CHANGES,
)
UPDATE_SUBSCRIPTION = compiled(
    update(WebhookSubscription)
    .where(_OWNED)
    .values(
        url=func.coalesce(_NEW_URL, WebhookSubscription.url),
        events=func.coalesce(_NEW_EVENTS, WebhookSubscription.events),
        description=case(
            (_SET_DESCRIPTION, _NEW_DESCRIPTION), else_=WebhookSubscription.description
        ),
        enabled=func.coalesce(_NEW_ENABLED, WebhookSubscription.enabled),
        disabled_reason=case(
            (_ENABLED_CHANGES, case((_NEW_ENABLED, null()), else_=OWNER_DISABLED)),
            else_=WebhookSubscription.disabled_reason,
        ),
        failing_since=case((_ENABLED_CHANGES, null()), else_=WebhookSubscription.failing_since),
        # As before: a PATCH that changes nothing leaves updatedAt as it was.
        updated_at=case((_ANY_CHANGE, func.now()), else_=WebhookSubscription.updated_at),
    )
    .returning(*_SUBSCRIPTION)
)
ROTATE_SECRET = compiled(
    update(WebhookSubscription)
    .where(_OWNED)
    .values(
        previous_secret_sealed=WebhookSubscription.secret_sealed,
        previous_secret_expires_at=bindparam("previous_expires_at", type_=DateTime(timezone=True)),
        secret_sealed=bindparam("secret_sealed", type_=String),
    )
    .returning(*_SUBSCRIPTION)
)
# Its deliveries and their attempts go with it (ON DELETE CASCADE).
DELETE_SUBSCRIPTION = compiled(delete(WebhookSubscription).where(_OWNED))

# The delivery log in one round trip: the subscription (none: not the caller's), its latest
# deliveries with their event types, and every attempt of each.
_RECENT = (
    select(*DELIVERY_COLUMNS, Event.type.label("event_type"))
    .join(Event, Event.id == WebhookDelivery.event_id)
    .where(WebhookDelivery.subscription_id == WebhookSubscription.id)
    .order_by(WebhookDelivery.id.desc())
    .limit(LOG_LIMIT)
    .lateral("recent")
)
DELIVERY_LOG = compiled(
    select(
        WebhookSubscription.id,
        *(_RECENT.c[field.key] for field in DELIVERY_COLUMNS),
        _RECENT.c.event_type,
        *_ATTEMPT,
    )
    .select_from(WebhookSubscription)
    .outerjoin(_RECENT, true())
    .outerjoin(WebhookAttempt, WebhookAttempt.delivery_id == _RECENT.c.id)
    .where(_OWNED)
    .order_by(_RECENT.c.id.desc(), WebhookAttempt.id)
)
# A delivery of the caller's subscription, with whether that is enabled and its event's type;
# the delivery's row held until the unit ends (concurrent redeliveries defer one attempt).
DELIVERY_OF_SUBSCRIPTION_LOCKED = compiled(
    select(*DELIVERY_COLUMNS, WebhookSubscription.enabled, Event.type)
    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    .join(Event, Event.id == WebhookDelivery.event_id)
    .where(WebhookDelivery.id == bindparam("delivery_id"), _OWNED)
    .with_for_update(of=WebhookDelivery)
)
SET_DELIVERY_STATUS = compiled(
    update(WebhookDelivery)
    .where(WebhookDelivery.id == bindparam("delivery_id"))
    .values(status=bindparam("status", type_=String))
)
# What one attempt needs, in one round trip. Outer joins: a delivery whose subscription or
# event is gone is still found (and cancelled).
DELIVERY_WITH_SUBSCRIPTION_AND_EVENT = compiled(
    select(*DELIVERY_COLUMNS, *_SUBSCRIPTION, *_EVENT)
    .outerjoin(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    .outerjoin(Event, Event.id == WebhookDelivery.event_id)
    .where(WebhookDelivery.id == bindparam("delivery_id"))
)
CANCEL_PENDING_DELIVERY = compiled(
    update(WebhookDelivery)
    .where(WebhookDelivery.id == bindparam("delivery_id"), WebhookDelivery.status == PENDING)
    .values(status=CANCELLED)
)
# Both rows held while an attempt is recorded: the delivery (one recording per attempt) and
# its subscription (its failure record is read, then written).
HEALTH_LOCKED = compiled(
    select(
        WebhookDelivery.status,
        WebhookDelivery.attempts,
        WebhookSubscription.id,
        WebhookSubscription.enabled,
        WebhookSubscription.disabled_reason,
        WebhookSubscription.failing_since,
    )
    .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    .where(WebhookDelivery.id == bindparam("delivery_id"))
    .with_for_update()
)
# The attempt and the delivery's new state in one statement.
RECORD_ATTEMPT = compiled(
    update(WebhookDelivery)
    .where(WebhookDelivery.id == bindparam("delivery_id"))
    .values(
        status=bindparam("status", type_=String),
        attempts=WebhookDelivery.attempts + 1,
        next_attempt_at=bindparam("next_attempt_at", type_=DateTime(timezone=True)),
    )
    .add_cte(
        insert(WebhookAttempt)
        .values(
            delivery_id=bindparam("delivery_id"),
            attempted_at=bindparam("attempted_at"),
            status_code=bindparam("status_code"),
            latency_ms=bindparam("latency_ms"),
            error=bindparam("error"),
        )
        .cte("attempt")
    )
)
SET_SUBSCRIPTION_HEALTH = compiled(
    update(WebhookSubscription)
    .where(WebhookSubscription.id == bindparam("subscription_id"))
    .values(
        enabled=bindparam("enabled", type_=Boolean),
        disabled_reason=bindparam("disabled_reason", type_=String),
        failing_since=bindparam("failing_since", type_=DateTime(timezone=True)),
    )
)


async def subscription_for_tenant(
    uow: UnitOfWork, tenant_id: int, subscription_id: int
) -> SubscriptionRow | None:
    """The tenant's subscription, or None if it does not exist or is someone else's."""
    params = {"subscription_id": subscription_id, "tenant_id": tenant_id}
    row = await uow.one(SUBSCRIPTION_FOR_TENANT, params)
    return None if row is None else SubscriptionRow(*row)


async def subscriptions_of(uow: UnitOfWork, tenant_id: int) -> list[SubscriptionRow]:
    """The tenant's subscriptions, oldest first."""
    return [
        SubscriptionRow(*row) for row in await uow.all(SUBSCRIPTIONS_OF, {"tenant_id": tenant_id})
    ]


async def add_subscription(
    uow: UnitOfWork,
    *,
    tenant_id: int,
    url: str,
    events: list[str],
    description: str | None,
    secret_sealed: str,
) -> SubscriptionRow:
    """A new enabled subscription."""
    params = {
        "tenant_id": tenant_id,
        "url": url,
        "events": events,
        "description": description,
        "secret_sealed": secret_sealed,
    }
    (row,) = await uow.returning(INSERT_SUBSCRIPTION, params)
    return SubscriptionRow(*row)


async def update_subscription(
    uow: UnitOfWork,
    tenant_id: int,
    subscription_id: int,
    *,
    url: str | None,
    events: list[str] | None,
    set_description: bool,
    description: str | None,
    enabled: bool | None,
) -> SubscriptionRow | None:
    """Change the fields given (None leaves one as it is; the description changes when
    `set_description`); None if the subscription is not the tenant's."""
    params = {
        "subscription_id": subscription_id,
        "tenant_id": tenant_id,
        "url": url,
        "events": events,
        "set_description": set_description,
        "description": description,
        "enabled": enabled,
    }
    rows = await uow.returning(UPDATE_SUBSCRIPTION, params)
    return SubscriptionRow(*rows[0]) if rows else None


async def rotate_secret(
    uow: UnitOfWork,
    tenant_id: int,
    subscription_id: int,
    *,
    secret_sealed: str,
    previous_expires_at: datetime,
) -> SubscriptionRow | None:
    """The new secret in place, the current one kept as previous until `previous_expires_at`;
    None if the subscription is not the tenant's."""
    params = {
        "subscription_id": subscription_id,
        "tenant_id": tenant_id,
        "secret_sealed": secret_sealed,
        "previous_expires_at": previous_expires_at,
    }
    rows = await uow.returning(ROTATE_SECRET, params)
    return SubscriptionRow(*rows[0]) if rows else None


async def delete_subscription(uow: UnitOfWork, tenant_id: int, subscription_id: int) -> bool:
    """Remove the tenant's subscription and its deliveries; False if there was none."""
    params = {"subscription_id": subscription_id, "tenant_id": tenant_id}
    return await uow.execute(DELETE_SUBSCRIPTION, params) > 0


async def delivery_log(
    uow: UnitOfWork, tenant_id: int, subscription_id: int
) -> list[tuple[DeliveryRow, str, list[AttemptRow]]] | None:
    """The latest deliveries of the tenant's subscription, newest first, each with its event type
    and attempts (oldest first); None if the subscription is not the tenant's."""
    params = {"subscription_id": subscription_id, "tenant_id": tenant_id}
    rows = await uow.all(DELIVERY_LOG, params)
    if not rows:
        return None
    split = 1 + len(DELIVERY_COLUMNS)
    log: dict[int, tuple[DeliveryRow, str, list[AttemptRow]]] = {}
    for row in rows:
        delivery_id = row[1]
        if delivery_id is None:
            continue  # no deliveries yet: the subscription's row alone
        if delivery_id not in log:
            log[delivery_id] = (DeliveryRow(*row[1:split]), row[split], [])
        if row[split + 1] is not None:
            log[delivery_id][2].append(AttemptRow(*row[split + 1 :]))
    return list(log.values())


async def delivery_of_subscription(
    uow: UnitOfWork, tenant_id: int, subscription_id: int, delivery_id: int
) -> tuple[DeliveryRow, bool, str] | None:
    """A delivery of the tenant's subscription, whether that is enabled, and its event type;
    its row held until the unit ends (in its transaction, begun here). None if not found."""
    await uow.begin()
    params = {
        "delivery_id": delivery_id,
        "subscription_id": subscription_id,
        "tenant_id": tenant_id,
    }
    row = await uow.one(DELIVERY_OF_SUBSCRIPTION_LOCKED, params)
    if row is None:
        return None
    split = len(DELIVERY_COLUMNS)
    return DeliveryRow(*row[:split]), bool(row[split]), str(row[split + 1])


async def set_delivery_status(uow: UnitOfWork, delivery_id: int, status: str) -> None:
    """Change a delivery's status."""
    await uow.execute(SET_DELIVERY_STATUS, {"delivery_id": delivery_id, "status": status})


async def delivery_with_subscription_and_event(
    uow: UnitOfWork, delivery_id: int
) -> tuple[DeliveryRow, SubscriptionRow | None, EventRow | None] | None:
    """A delivery with its subscription and event (None where gone), in one round trip; None if
    the delivery is gone."""
    row = await uow.one(DELIVERY_WITH_SUBSCRIPTION_AND_EVENT, {"delivery_id": delivery_id})
    if row is None:
        return None
    at_subscription = len(DELIVERY_COLUMNS)
    at_event = at_subscription + len(_SUBSCRIPTION)
    subscription = row[at_subscription:at_event]
    event = row[at_event:]
    return (
        DeliveryRow(*row[:at_subscription]),
        None if subscription[0] is None else SubscriptionRow(*subscription),
        None if event[0] is None else EventRow(*event),
    )


async def cancel_pending_delivery(uow: UnitOfWork, delivery_id: int) -> None:
    """Cancel a delivery that is still pending (its subscription or event is gone)."""
    await uow.execute(CANCEL_PENDING_DELIVERY, {"delivery_id": delivery_id})


async def health_locked(uow: UnitOfWork, delivery_id: int) -> Health | None:
    """The delivery's status and attempts and its subscription's failure record, both rows held
    until the unit ends (in its transaction, begun here); None if the delivery is gone."""
    await uow.begin()
    row = await uow.one(HEALTH_LOCKED, {"delivery_id": delivery_id})
    return None if row is None else Health(*row)


async def record_attempt(
    uow: UnitOfWork,
    delivery_id: int,
    *,
    attempted_at: datetime,
    status_code: int | None,
    latency_ms: int,
    error: str | None,
    status: str,
    next_attempt_at: datetime | None,
) -> None:
    """Add an attempt to the delivery's log and count it, with the delivery's new state."""
    params = {
        "delivery_id": delivery_id,
        "attempted_at": attempted_at,
        "status_code": status_code,
        "latency_ms": latency_ms,
        "error": error,
        "status": status,
        "next_attempt_at": next_attempt_at,
    }
    await uow.execute(RECORD_ATTEMPT, params)


async def set_subscription_health(
    uow: UnitOfWork,
    subscription_id: int,
    *,
    enabled: bool,
    disabled_reason: str | None,
    failing_since: datetime | None,
) -> None:
    """Record whether a subscription still receives deliveries, why not, and since when they
    fail."""
    params = {
        "subscription_id": subscription_id,
        "enabled": enabled,
        "disabled_reason": disabled_reason,
        "failing_since": failing_since,
    }
    await uow.execute(SET_SUBSCRIPTION_HEALTH, params)


# Every tenant's deliveries not yet settled, and how long the oldest has been waiting, for the
# metrics: one read of the partial index on pending deliveries (the status written into the
# statement, not bound, so that even a generic plan of the prepared statement can use it).
PENDING_BACKLOG = compiled(
    text(
        """
        SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
        FROM webhook_deliveries
        WHERE status = 'pending'
        """
    )
)


async def pending_backlog(uow: UnitOfWork) -> tuple[int, float]:
    """How many deliveries are pending, across every tenant, and the oldest one's age in
    seconds (0 when none is)."""
    row = await uow.one(PENDING_BACKLOG)
    if row is None:
        return 0, 0.0
    return int(row[0]), max(0.0, float(row[1]))
