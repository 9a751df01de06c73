"""The statement of the sandbox pages: a tenant by name, and the client its fixtures are
requested as (what the API's caller would be)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, bindparam, select

from cancelgate.auth.identity import Principal
from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.db.database import Database, compiled

# The tenant and its oldest enabled client (none: NULLs), in one read.
TENANT_AND_CLIENT = compiled(
    select(
        Tenant.id,
        ApiClient.tenant_id,
        ApiClient.id,
        ApiClient.client_id,
        ApiClient.display_name,
        ApiClient.email,
    )
    .outerjoin(ApiClient, and_(ApiClient.tenant_id == Tenant.id, ApiClient.enabled))
    .where(Tenant.name == bindparam("name"))
    .order_by(ApiClient.id)
    .limit(1)
)


@dataclass(frozen=True)
class SandboxTenant:
    """A tenant, and the API user its fixtures are made as (None: it has no enabled client)."""

    id: int
    name: str
    requester: Principal | None


async def tenant_named(database: Database, name: str) -> SandboxTenant | None:
    """The tenant of that name with its oldest enabled client, or None."""
    row = await database.one(TENANT_AND_CLIENT, {"name": name})
    if row is None:
        return None
    requester = None if row[2] is None else Principal(*row[1:])
    return SandboxTenant(row[0], name, requester)
