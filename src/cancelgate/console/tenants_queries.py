"""The statements of the tenants and clients pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update

from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.console.paging import NO_CURSOR, PAGE_SIZE, page_of
from cancelgate.db.database import Database, UnitOfWork, compiled


@dataclass(frozen=True)
class ClientRow:
    """An API client as the clients page lists it."""

    id: int
    tenant: str
    client_id: str
    display_name: str
    enabled: bool
    created_at: datetime


CLIENTS_PAGE = compiled(
    select(
        ApiClient.id,
        Tenant.name,
        ApiClient.client_id,
        ApiClient.display_name,
        ApiClient.enabled,
        ApiClient.created_at,
    )
    .join(Tenant, Tenant.id == ApiClient.tenant_id)
    .where(ApiClient.id < bindparam("before"))
    .order_by(ApiClient.id.desc())
    .limit(PAGE_SIZE + 1)
)
SET_CLIENT_ENABLED = compiled(
    update(ApiClient)
    .where(ApiClient.client_id == bindparam("client_id"))
    .values(enabled=bindparam("enabled"))
    .returning(ApiClient.id)
)


async def clients_page(
    database: Database, before: int | None
) -> tuple[list[ClientRow], int | None]:
    """A page of API clients, newest first, and the next page's cursor (or None)."""
    rows = await database.all(CLIENTS_PAGE, {"before": NO_CURSOR if before is None else before})
    return page_of(rows, ClientRow)


async def set_client_enabled(uow: UnitOfWork, client_id: str, *, enabled: bool) -> bool:
    """Enable or disable an API client by its public id; whether it exists."""
    return bool(
        await uow.returning(SET_CLIENT_ENABLED, {"client_id": client_id, "enabled": enabled})
    )
