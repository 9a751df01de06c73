"""The statements of the tenants and clients pages (what they write is auth's own: see
`cancelgate.auth.clients`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update

from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.console.paging import NO_CURSOR, PAGE_SIZE, page_of
from cancelgate.db.database import Database, UnitOfWork, compiled


@dataclass(frozen=True)
class TenantRow:
    """A tenant as the tenants page lists it."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ClientRow:
    """An API client as the clients and tenant pages list it."""

    id: int
    tenant_id: int
    tenant: str
    client_id: str
    display_name: str
    email: str
    enabled: bool
    # False for a private_key_jwt client: nothing to rotate.
    has_secret: bool
    created_at: datetime


TENANTS_PAGE = compiled(
    select(Tenant.id, Tenant.name, Tenant.created_at)
    .where(Tenant.id < bindparam("before"))
    .order_by(Tenant.id.desc())
    .limit(PAGE_SIZE + 1)
)
TENANT = compiled(
    select(Tenant.id, Tenant.name, Tenant.created_at).where(Tenant.id == bindparam("tenant_id"))
)
_CLIENTS = select(
    ApiClient.id,
    ApiClient.tenant_id,
    Tenant.name,
    ApiClient.client_id,
    ApiClient.display_name,
    ApiClient.email,
    ApiClient.enabled,
    ApiClient.secret_hash.is_not(None),
    ApiClient.created_at,
).join(Tenant, Tenant.id == ApiClient.tenant_id)
CLIENTS_PAGE = compiled(
    _CLIENTS.where(ApiClient.id < bindparam("before"))
    .order_by(ApiClient.id.desc())
    .limit(PAGE_SIZE + 1)
)
# ix_api_clients_tenant_id finds a tenant's clients; a tenant has few.
TENANT_CLIENTS_PAGE = compiled(
    _CLIENTS.where(
        ApiClient.tenant_id == bindparam("tenant_id"), ApiClient.id < bindparam("before")
    )
    .order_by(ApiClient.id.desc())
    .limit(PAGE_SIZE + 1)
)
SET_CLIENT_ENABLED = compiled(
    update(ApiClient)
    .where(ApiClient.client_id == bindparam("client_id"))
    .values(enabled=bindparam("enabled"))
    .returning(ApiClient.id)
)


def _cursor(before: int | None) -> int:
    return NO_CURSOR if before is None else before


async def tenants_page(
    database: Database, before: int | None
) -> tuple[list[TenantRow], int | None]:
    """A page of tenants, newest first, and the next page's cursor (or None)."""
    rows = await database.all(TENANTS_PAGE, {"before": _cursor(before)})
    return page_of(rows, TenantRow)


async def tenant(database: Database, tenant_id: int) -> TenantRow | None:
    """One tenant, or None."""
    row = await database.one(TENANT, {"tenant_id": tenant_id})
    return None if row is None else TenantRow(*row)


async def clients_page(
    database: Database, before: int | None
) -> tuple[list[ClientRow], int | None]:
    """A page of API clients, newest first, and the next page's cursor (or None)."""
    rows = await database.all(CLIENTS_PAGE, {"before": _cursor(before)})
    return page_of(rows, ClientRow)


async def tenant_clients_page(
    database: Database, tenant_id: int, before: int | None
) -> tuple[list[ClientRow], int | None]:
    """A page of one tenant's API clients, newest first, and the next page's cursor (or None)."""
    params = {"tenant_id": tenant_id, "before": _cursor(before)}
    return page_of(await database.all(TENANT_CLIENTS_PAGE, params), ClientRow)


async def set_client_enabled(uow: UnitOfWork, client_id: str, *, enabled: bool) -> bool:
    """Enable or disable an API client by its public id; whether it exists."""
    return bool(
        await uow.returning(SET_CLIENT_ENABLED, {"client_id": client_id, "enabled": enabled})
    )
