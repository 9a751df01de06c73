"""What a request's timeline shows after the request itself: the events recorded for its
subject, and each webhook delivery of those events with its attempts. Each kind of request
picks its events with a predicate; the three reads are built from it once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from cancelgate.db.database import Database, Query, compiled, fields_of
from cancelgate.webhooks.models import Event, WebhookAttempt, WebhookDelivery, WebhookSubscription
from cancelgate.webhooks.repository import AttemptRow

# The events a request's timeline shows, given the events table (or an alias of it).
Picks = Callable[[Any], tuple[Any, ...]]


@dataclass(frozen=True)
class EventRow:
    """An event recorded for the request's subject."""

    id: Any
    type: str
    occurred_at: datetime


@dataclass(frozen=True)
class DeliveryRow:
    """A webhook delivery of one of those events."""

    id: int
    event_id: Any
    url: str
    status: str
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Trail:
    """The events, and each delivery with its attempts (the delivery log's own rows)."""

    events: list[EventRow]
    deliveries: list[tuple[DeliveryRow, list[AttemptRow]]]


@dataclass(frozen=True)
class TrailReads:
    """The three statements of one kind of request's trail."""

    events: Query
    deliveries: Query
    attempts: Query


def trail_reads(picks: Picks) -> TrailReads:
    """The reads of the events `picks` selects, their deliveries and those attempts."""
    event = aliased(Event)
    return TrailReads(
        events=compiled(
            select(Event.id, Event.type, Event.occurred_at)
            .where(*picks(Event))
            .order_by(Event.txid, Event.seq)
        ),
        deliveries=compiled(
            select(
                WebhookDelivery.id,
                WebhookDelivery.event_id,
                WebhookSubscription.url,
                WebhookDelivery.status,
                WebhookDelivery.attempts,
                WebhookDelivery.created_at,
            )
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .join(event, event.id == WebhookDelivery.event_id)
            .where(*picks(event))
            .order_by(WebhookDelivery.id)
        ),
        attempts=compiled(
            select(*fields_of(WebhookAttempt, AttemptRow))
            .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
            .join(event, event.id == WebhookDelivery.event_id)
            .where(*picks(event))
            .order_by(WebhookAttempt.id)
        ),
    )


async def read_trail(database: Database, reads: TrailReads, params: dict[str, Any]) -> Trail:
    """The trail of one request (3 reads)."""
    events = [EventRow(*found) for found in await database.all(reads.events, params)]
    deliveries = [DeliveryRow(*found) for found in await database.all(reads.deliveries, params)]
    attempts = [AttemptRow(*found) for found in await database.all(reads.attempts, params)]
    return Trail(
        events=events,
        deliveries=[(d, [a for a in attempts if a.delivery_id == d.id]) for d in deliveries],
    )
