"""Every query of the UX context."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.ux.models import ChannelClient, UxAppointment


async def channel_client(session: AsyncSession, client_id: str) -> ChannelClient | None:
    """The channel client with this id, or None."""
    stmt = select(ChannelClient).where(ChannelClient.client_id == client_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def appointment(
    session: AsyncSession, business_id: str, appointment_id: str, *, lock: bool = False
) -> UxAppointment | None:
    """The business unit's appointment, or None."""
    stmt = select(UxAppointment).where(
        UxAppointment.business_id == business_id,
        UxAppointment.appointment_id == appointment_id,
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
