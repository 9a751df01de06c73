"""Events and their webhook outbox, written in the caller's unit of work: an event, its
deliveries and their first attempts' jobs commit (or not) with the change they describe."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg.types.json import Json
from sqlalchemy import Integer, bindparam, insert, literal, select
from sqlalchemy.dialects.postgresql import UUID

from cancelgate.db.database import UnitOfWork, compiled
from cancelgate.jobs.app import defer, jobs_app
from cancelgate.observability.tracing import job_trace, span
from cancelgate.webhooks.models import Event, WebhookDelivery, WebhookSubscription
from cancelgate.webhooks.repository import DELIVERY_COLUMNS, PENDING, DeliveryRow

DELIVER_TASK = "webhooks.deliver"

INSERT_EVENT = compiled(
    insert(Event).values(
        id=bindparam("event_id"),
        tenant_id=bindparam("tenant_id"),
        type=bindparam("type"),
        model=bindparam("model"),
        subject_id=bindparam("subject_id"),
        payload=bindparam("payload"),
    )
)
# One statement: a pending delivery for every enabled subscription of the tenant that wants
# this type of event; their ids come back for the jobs.
INSERT_DELIVERIES = compiled(
    insert(WebhookDelivery)
    .from_select(
        ["tenant_id", "subscription_id", "event_id", "status", "attempts"],
        select(
            WebhookSubscription.tenant_id,
            WebhookSubscription.id,
            bindparam("event_id", type_=UUID(as_uuid=True)),
            literal(PENDING),
            literal(0, Integer),
        ).where(
            WebhookSubscription.tenant_id == bindparam("tenant_id"),
            WebhookSubscription.enabled.is_(True),
            WebhookSubscription.events.contains(
                bindparam("types", type_=WebhookSubscription.events.type)
            ),
        ),
    )
    .returning(WebhookDelivery.id)
)
INSERT_DELIVERY = compiled(
    insert(WebhookDelivery)
    .values(
        tenant_id=bindparam("tenant_id"),
        subscription_id=bindparam("subscription_id"),
        event_id=bindparam("event_id"),
        status=PENDING,
        attempts=0,
    )
    .returning(*DELIVERY_COLUMNS)
)


async def record_event(
    uow: UnitOfWork,
    *,
    tenant_id: int | None,
    event_type: str,
    model: str,
    subject_id: int,
    payload: dict[str, Any],
) -> uuid.UUID:
    """Add an event and a delivery to each subscription that wants it; the event's id.

    Traced as span `event <type>`, which the deliveries' jobs continue from."""
    with span(f"event {event_type}", attributes={"cancelgate.event.type": event_type}) as current:
        event_id = await add_event(
            uow,
            tenant_id=tenant_id,
            event_type=event_type,
            model=model,
            subject_id=subject_id,
            payload=payload,
        )
        current.set_attribute("cancelgate.event.id", str(event_id))
        if tenant_id is None:
            return event_id  # the UX API's events have no tenant, hence no subscribers
        params = {"event_id": event_id, "tenant_id": tenant_id, "types": [event_type]}
        delivery_ids = [row[0] for row in await uow.returning(INSERT_DELIVERIES, params)]
        if delivery_ids:
            trace = job_trace()
            await jobs_app.configure_task(
                DELIVER_TASK, allow_unknown=False, connection=await uow.connection()
            ).batch_defer_async(*({"delivery_id": id_, **trace} for id_ in delivery_ids))
        return event_id


async def add_event(
    uow: UnitOfWork,
    *,
    tenant_id: int | None,
    event_type: str,
    model: str,
    subject_id: int,
    payload: dict[str, Any],
) -> uuid.UUID:
    """Add an event without delivering it to anyone (yet); its id."""
    event_id = uuid.uuid4()
    await uow.execute(
        INSERT_EVENT,
        {
            "event_id": event_id,
            "tenant_id": tenant_id,
            "type": event_type,
            "model": model,
            "subject_id": subject_id,
            "payload": Json(payload),
        },
    )
    return event_id


async def add_delivery(
    uow: UnitOfWork, *, tenant_id: int, subscription_id: int, event_id: uuid.UUID
) -> DeliveryRow:
    """A pending delivery of an event to one subscription, and its first attempt's job."""
    params = {"tenant_id": tenant_id, "subscription_id": subscription_id, "event_id": event_id}
    (row,) = await uow.returning(INSERT_DELIVERY, params)
    delivery = DeliveryRow(*row)
    await defer_attempt(uow, delivery.id)
    return delivery


async def defer_attempt(uow: UnitOfWork, delivery_id: int, at: datetime | None = None) -> None:
    """Schedule a delivery's next attempt in the unit's transaction."""
    await defer(uow, DELIVER_TASK, schedule_at=at, delivery_id=delivery_id)
