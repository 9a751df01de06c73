"""Recording events inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.events.models import Event


async def record_event(
    session: AsyncSession,
    *,
    tenant_id: int | None,
    event_type: str,
    model: str,
    subject_id: int,
    payload: dict[str, Any],
) -> Event:
    """Add an event to the session; it commits (or not) with the change it describes."""
    event = Event(
        tenant_id=tenant_id, type=event_type, model=model, subject_id=subject_id, payload=payload
    )
    session.add(event)
    await session.flush()
    return event
