"""Queries of the auth context."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.models import ApiClient, Tenant, UsedAssertion


async def get_or_create_tenant(session: AsyncSession, name: str) -> Tenant:
    """The tenant of that name, created if it does not exist yet."""
    await session.execute(insert(Tenant).values(name=name).on_conflict_do_nothing())
    tenant = (await session.execute(select(Tenant).where(Tenant.name == name))).scalar_one()
    return tenant


async def client_by_client_id(session: AsyncSession, client_id: str) -> ApiClient | None:
    """An enabled client by its public id."""
    stmt = select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.enabled)
    return (await session.execute(stmt)).scalar_one_or_none()


async def client_by_pk(session: AsyncSession, client_pk: int) -> ApiClient | None:
    """An enabled client by its primary key."""
    stmt = select(ApiClient).where(ApiClient.id == client_pk, ApiClient.enabled)
    return (await session.execute(stmt)).scalar_one_or_none()


async def remember_assertion(
    session: AsyncSession, *, client_id: str, jti: str, expires_at: datetime
) -> bool:
    """Record an assertion's jti; False when it was seen before (a replay)."""
    stmt = (
        insert(UsedAssertion)
        .values(client_id=client_id, jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing()
        .returning(UsedAssertion.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def forget_expired_assertions(session: AsyncSession, now: datetime) -> int:
    """Drop jtis whose assertions have expired (they can no longer be replayed anyway)."""
    result = await session.execute(delete(UsedAssertion).where(UsedAssertion.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)
