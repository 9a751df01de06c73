"""The tenants and clients pages: API clients listed, disabled and enabled."""

from __future__ import annotations

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from cancelgate.console import repository, tenants_queries
from cancelgate.console.web import (
    Acting,
    Current,
    CurrentOperator,
    console_router,
    next_page,
    positive_int,
    redirect,
    render,
)
from cancelgate.dependencies import DatabaseDep, Uow

router = console_router()


@router.get("/clients")
async def clients_list(
    request: Request, operator: CurrentOperator, database: DatabaseDep, before: str | None = None
) -> Response:
    """API clients, newest first, with their enable/disable actions."""
    rows, cursor = await tenants_queries.clients_page(database, positive_int(before))
    return render(
        request, "clients.html", {"me": operator, "rows": rows, "next_url": next_page({}, cursor)}
    )


async def _set_enabled(uow: Uow, operator: Current, client_id: str, *, enabled: bool) -> Response:
    if not await tenants_queries.set_client_enabled(uow, client_id, enabled=enabled):
        raise HTTPException(status_code=404)
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="client.enable" if enabled else "client.disable",
        target=f"client:{client_id}",
    )
    return redirect("/clients")


@router.post("/clients/{client_id}/disable")
async def disable_client(client_id: str, uow: Uow, operator: Acting) -> Response:
    """Disable an API client: its next token request, and its tokens past the principal
    cache, are refused."""
    return await _set_enabled(uow, operator, client_id, enabled=False)


@router.post("/clients/{client_id}/enable")
async def enable_client(client_id: str, uow: Uow, operator: Acting) -> Response:
    """Enable an API client again."""
    return await _set_enabled(uow, operator, client_id, enabled=True)
