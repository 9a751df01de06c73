"""Storing idempotency keys: claim a key for a request, keep its response, forget old keys."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cancelgate.idempotency.keys import COMPLETED, PROCESSING, Decision, Recorded, decide
from cancelgate.idempotency.models import IdempotencyRecord

# Keys are kept this long (the draft's suggestion), then forgotten.
KEY_LIFETIME = timedelta(hours=24)
# Longer than any request can run (upstream timeouts are seconds): past it, the first
# request's process is taken to have died and a retry runs.
LOCK_SECONDS = timedelta(seconds=60)


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    tenant_id: int,
    key: str,
    fingerprint: str,
    now: datetime,
) -> tuple[Decision | None, IdempotencyRecord]:
    """Take the key for this request (decision None), or say what the earlier one decides."""
    async with sessions.begin() as session:
        fresh = {
            "fingerprint": fingerprint,
            "state": PROCESSING,
            "locked_until": now + LOCK_SECONDS,
            "expires_at": now + KEY_LIFETIME,
            "response_status": None,
            "response_headers": None,
            "response_body": None,
        }
        inserted = await session.scalar(
            insert(IdempotencyRecord)
            .values(tenant_id=tenant_id, key=key, **fresh)
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(IdempotencyRecord)
        )
        if inserted is not None:
            return None, inserted
        stmt = select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
        )
        record = (await session.execute(stmt.with_for_update())).scalar_one()
        recorded = Recorded(
            record.fingerprint, record.state, record.locked_until, record.expires_at
        )
        decision = decide(recorded, fingerprint, now)
        if decision != Decision.TAKE_OVER:
            return decision, record
        for name, value in fresh.items():
            setattr(record, name, value)
        return None, record


async def complete(
    sessions: async_sessionmaker[AsyncSession],
    record_id: int,
    *,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes,
) -> None:
    """Keep the first response for replays."""
    async with sessions.begin() as session:
        await session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == record_id)
            .values(
                state=COMPLETED,
                response_status=status,
                response_headers=[list(pair) for pair in headers],
                response_body=body,
            )
        )


async def release(sessions: async_sessionmaker[AsyncSession], record_id: int) -> None:
    """Forget a key whose request failed on our side, so that a retry runs again."""
    async with sessions.begin() as session:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id))


async def forget_expired(session: AsyncSession, now: datetime) -> int:
    """Delete keys past their lifetime; returns how many."""
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now)
    )
    return int(getattr(result, "rowcount", 0) or 0)
