"""Recording events inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.events.models import Event
from cancelgate.webhooks.outbox import enqueue_deliveries


async def record_event(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    event_type: str,
    model: str,
    subject_id: int,
    payload: dict[str, Any],
) -> Event:
    """Add an event, and its webhook deliveries; they commit (or not) with the change."""
    event = Event(
        tenant_id=tenant_id, type=event_type, model=model, subject_id=subject_id, payload=payload
    )
    session.add(event)
    await session.flush()
    await enqueue_deliveries(session, event)
    return event
