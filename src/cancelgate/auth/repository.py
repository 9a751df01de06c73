"""Every statement of the auth context's request and job paths, built and compiled once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects.postgresql import insert

from cancelgate.auth.identity import Principal
from cancelgate.auth.models import ApiClient, UsedAssertion
from cancelgate.db.database import Database, UnitOfWork, compiled, fields_of


@dataclass(frozen=True)
class ClientRow:
    """An enabled client as the token endpoint needs it to authenticate and issue."""

    id: int
    tenant_id: int
    client_id: str
    secret_hash: str | None
    jwks: dict[str, Any] | None


# Built once: every request whose token is not in the cache asks it.
PRINCIPAL_BY_CLIENT_PK = compiled(
    select(
        ApiClient.tenant_id,
        ApiClient.id,
        ApiClient.client_id,
        ApiClient.display_name,
        ApiClient.email,
    ).where(ApiClient.id == bindparam("client_pk"), ApiClient.enabled)
)
ENABLED_CLIENT = compiled(
    select(*fields_of(ApiClient, ClientRow)).where(
        ApiClient.client_id == bindparam("client_id"), ApiClient.enabled
    )
)
# Nothing returned: the (client_id, jti) pair was already there, i.e. a replay.
REMEMBER_ASSERTION = compiled(
    insert(UsedAssertion)
    .values(
        client_id=bindparam("client_id"), jti=bindparam("jti"), expires_at=bindparam("expires_at")
    )
    .on_conflict_do_nothing()
    .returning(UsedAssertion.id)
)
FORGET_EXPIRED_ASSERTIONS = compiled(
    delete(UsedAssertion).where(UsedAssertion.expires_at < bindparam("now"))
)


async def principal_by_client_pk(database: Database, client_pk: int) -> Principal | None:
    """The API user an enabled client acts as, or None."""
    row = await database.one(PRINCIPAL_BY_CLIENT_PK, {"client_pk": client_pk})
    return None if row is None else Principal(*row)


async def enabled_client(uow: UnitOfWork, client_id: str) -> ClientRow | None:
    """An enabled client by its public id."""
    row = await uow.one(ENABLED_CLIENT, {"client_id": client_id})
    return None if row is None else ClientRow(*row)


async def remember_assertion(
    uow: UnitOfWork, *, client_id: str, jti: str, expires_at: datetime
) -> bool:
    """Record an assertion's jti in the unit's transaction; False when it was seen before."""
    params = {"client_id": client_id, "jti": jti, "expires_at": expires_at}
    return bool(await uow.returning(REMEMBER_ASSERTION, params))


async def forget_expired_assertions(uow: UnitOfWork, now: datetime) -> int:
    """Drop jtis whose assertions have expired (they can no longer be replayed anyway)."""
    return await uow.execute(FORGET_EXPIRED_ASSERTIONS, {"now": now})
