"""Storing idempotency keys: claim a key for a request, keep its response, forget old keys.
Every statement is built and compiled once; rows come back as plain dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert

from cancelgate.db.database import UnitOfWork, compiled, fields_of
from cancelgate.idempotency.keys import COMPLETED, PROCESSING, Recorded
from cancelgate.idempotency.models import IdempotencyRecord

# Keys are kept this long (the draft's suggestion), then forgotten.
KEY_LIFETIME = timedelta(hours=24)
# Longer than any request can run (upstream timeouts are seconds): past it, the first
# request's process is taken to have died and a retry runs.
LOCK_SECONDS = timedelta(seconds=60)


@dataclass(frozen=True)
class Claim:
    """A key taken for one run of a request: its row and the lock that run set, which tells
    the run apart from a later one that took the key over."""

    id: int
    locked_until: datetime


@dataclass(frozen=True)
class KeyRow:
    """A key's record: the first request's fingerprint, its state and, once answered, the
    response."""

    id: int
    fingerprint: str
    state: str
    locked_until: datetime
    expires_at: datetime
    response_status: int | None
    response_headers: list[Any] | None
    response_body: bytes | None

    def recorded(self) -> Recorded:
        """What the decision rules need of it."""
        return Recorded(self.fingerprint, self.state, self.locked_until, self.expires_at)


_KEY = fields_of(IdempotencyRecord, KeyRow)
_FRESH = {
    "fingerprint": bindparam("fingerprint"),
    "state": PROCESSING,
    "locked_until": bindparam("locked_until"),
    "expires_at": bindparam("expires_at"),
}
# The common case in one statement: the key is new and is ours.
CLAIM = compiled(
    insert(IdempotencyRecord)
    .values(tenant_id=bindparam("tenant_id"), key=bindparam("key"), **_FRESH)
    .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
    .returning(IdempotencyRecord.id)
)
RECORD = compiled(
    select(*_KEY).where(
        IdempotencyRecord.tenant_id == bindparam("tenant_id"),
        IdempotencyRecord.key == bindparam("key"),
    )
)
# Wins only if the row is still what was read: of two concurrent take-overs, one matches.
TAKE_OVER = compiled(
    update(IdempotencyRecord)
    .where(
        IdempotencyRecord.id == bindparam("id"),
        IdempotencyRecord.fingerprint == bindparam("was_fingerprint"),
        IdempotencyRecord.state == bindparam("was_state"),
        IdempotencyRecord.locked_until == bindparam("was_locked_until"),
        IdempotencyRecord.expires_at == bindparam("was_expires_at"),
    )
    .values(**_FRESH, response_status=None, response_headers=None, response_body=None)
    .returning(IdempotencyRecord.id)
)
_CLAIMED = (
    IdempotencyRecord.id == bindparam("id"),
    IdempotencyRecord.locked_until == bindparam("locked_until"),
)
COMPLETE = compiled(
    update(IdempotencyRecord)
    .where(*_CLAIMED)
    .values(
        state=COMPLETED,
        response_status=bindparam("response_status"),
        response_headers=bindparam("response_headers"),
        response_body=bindparam("response_body"),
    )
)
RELEASE = compiled(delete(IdempotencyRecord).where(*_CLAIMED))
FORGET_EXPIRED = compiled(
    delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= bindparam("now"))
)


def _fresh(fingerprint: str, now: datetime) -> dict[str, Any]:
    return {
        "fingerprint": fingerprint,
        "locked_until": now + LOCK_SECONDS,
        "expires_at": now + KEY_LIFETIME,
    }


async def claim(
    uow: UnitOfWork, *, tenant_id: int, key: str, fingerprint: str, now: datetime
) -> Claim | None:
    """Take a new key for this request; None if the tenant already has a record of it."""
    params = {"tenant_id": tenant_id, "key": key, **_fresh(fingerprint, now)}
    rows = await uow.write_alone(CLAIM, params)
    return Claim(rows[0][0], params["locked_until"]) if rows else None


async def recorded(uow: UnitOfWork, *, tenant_id: int, key: str) -> KeyRow | None:
    """The tenant's record of a key, or None if there is none (any more)."""
    row = await uow.one(RECORD, {"tenant_id": tenant_id, "key": key})
    return None if row is None else KeyRow(*row)


async def take_over(
    uow: UnitOfWork, record: KeyRow, *, fingerprint: str, now: datetime
) -> Claim | None:
    """Take a key whose first request was abandoned or has expired, if its record is still as
    read; None if another request changed it first."""
    params = {
        "id": record.id,
        "was_fingerprint": record.fingerprint,
        "was_state": record.state,
        "was_locked_until": record.locked_until,
        "was_expires_at": record.expires_at,
        **_fresh(fingerprint, now),
    }
    rows = await uow.write_alone(TAKE_OVER, params)
    return Claim(record.id, params["locked_until"]) if rows else None


async def complete(
    uow: UnitOfWork, claim: Claim, *, status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    """Keep the first response for replays (unless a later run took the key over)."""
    params = {
        "id": claim.id,
        "locked_until": claim.locked_until,
        "response_status": status,
        "response_headers": Jsonb([list(pair) for pair in headers]),
        "response_body": body,
    }
    await uow.write_alone(COMPLETE, params)


async def release(uow: UnitOfWork, claim: Claim) -> None:
    """Forget a key whose request failed on our side, so that a retry runs again (unless a
    later run took it over)."""
    await uow.write_alone(RELEASE, {"id": claim.id, "locked_until": claim.locked_until})


async def forget_expired(uow: UnitOfWork, now: datetime) -> int:
    """Delete keys past their lifetime; how many."""
    return await uow.execute(FORGET_EXPIRED, {"now": now})
