"""The tenants and clients pages: tenants created with their first API client, API clients
added, listed, disabled, enabled and their secrets rotated (each new secret shown once)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from cancelgate.auth.clients import (
    DEFAULT_EMAIL,
    NewClient,
    add_client,
    create_tenant,
    rotate_secret,
)
from cancelgate.console import repository, tenants_queries
from cancelgate.console.web import (
    Acting,
    Current,
    CurrentOperator,
    console_router,
    next_page,
    not_found,
    positive_int,
    redirect,
    render,
)
from cancelgate.dependencies import DatabaseDep, Keys, Uow

# The columns' lengths (tenants.name, api_clients.display_name and email).
TENANT_NAME_MAX = 100
DISPLAY_NAME_MAX = 200
EMAIL_MAX = 320

router = console_router()
FormText = Annotated[str | None, Form()]


class FormError(ValueError):
    """A form field the operator must correct (a 400 page with the form again)."""


def required(value: str | None, label: str, max_length: int) -> str:
    """A form's required text, trimmed; FormError when blank or too long."""
    found = (value or "").strip()
    if not found:
        raise FormError(f"{label} is required.")
    if len(found) > max_length:
        raise FormError(f"{label} must be at most {max_length} characters.")
    return found


def _email(value: str | None) -> str:
    found = (value or "").strip()
    if not found:
        return DEFAULT_EMAIL
    if len(found) > EMAIL_MAX or "@" not in found:
        raise FormError(f"Email must be an address of at most {EMAIL_MAX} characters.")
    return found


def secret_page(
    request: Request, operator: Current, title: str, shown: list[tuple[str, str]], back: str
) -> Response:
    """The one page that shows a new secret: never cached (Cache-Control: no-store)."""
    response = render(
        request,
        "client_secret.html",
        {"me": operator, "title": title, "shown": shown, "back": back},
    )
    # The security middleware's default says as much; this page must not depend on it.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _client_shown(created: NewClient) -> list[tuple[str, str]]:
    return [
        ("Tenant", created.tenant),
        ("client_id", created.client_id),
        ("client_secret", created.client_secret),
    ]


async def _audit_client_created(
    uow: Uow, operator: Current, created: NewClient, display_name: str
) -> None:
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="client.create",
        target=f"client:{created.client_id}",
        detail={"tenant": created.tenant, "display_name": display_name},
    )


async def _tenants(
    request: Request,
    operator: Current,
    database: DatabaseDep,
    before: int | None,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    rows, cursor = await tenants_queries.tenants_page(database, before)
    context: dict[str, Any] = {
        "me": operator,
        "rows": rows,
        "next_url": next_page({}, cursor),
        "error": error,
        "form": form or {},
    }
    return render(request, "tenants.html", context, status)


@router.get("/tenants")
async def tenants_list(
    request: Request, operator: CurrentOperator, database: DatabaseDep, before: str | None = None
) -> Response:
    """Tenants, newest first, and the form that creates one with its first API client."""
    return await _tenants(request, operator, database, positive_int(before))


@router.post("/tenants")
async def tenant_create(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    keys: Keys,
    operator: Acting,
    name: FormText = None,
    display_name: FormText = None,
    email: FormText = None,
) -> Response:
    """Create a tenant and its first API client; its secret is shown this once. A name taken
    is a 409 and writes nothing."""
    form = {"name": name or "", "display_name": display_name or "", "email": email or ""}
    try:
        tenant_name = required(name, "Tenant name", TENANT_NAME_MAX)
        client_name = required(display_name, "Client name", DISPLAY_NAME_MAX)
        client_email = _email(email)
    except FormError as exc:
        return await _tenants(
            request, operator, database, None, error=str(exc), form=form, status=400
        )
    tenant_id = await create_tenant(uow, tenant_name)
    if tenant_id is None:
        return await _tenants(
            request,
            operator,
            database,
            None,
            error=f"A tenant named {tenant_name!r} already exists.",
            form=form,
            status=409,
        )
    created = await add_client(
        uow,
        keys.pepper,
        tenant_id=tenant_id,
        tenant=tenant_name,
        display_name=client_name,
        email=client_email,
    )
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="tenant.create",
        target=f"tenant:{tenant_id}",
        detail={"name": tenant_name},
    )
    await _audit_client_created(uow, operator, created, client_name)
    return secret_page(
        request, operator, "Tenant created", _client_shown(created), f"/tenants/{tenant_id}"
    )


async def _tenant(
    request: Request,
    operator: Current,
    database: DatabaseDep,
    tenant_id: str,
    before: int | None,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    number = positive_int(tenant_id)
    found = None if number is None else await tenants_queries.tenant(database, number)
    if found is None:
        return not_found(request, operator, "No such tenant.")
    rows, cursor = await tenants_queries.tenant_clients_page(database, found.id, before)
    context: dict[str, Any] = {
        "me": operator,
        "tenant": found,
        "rows": rows,
        "next_url": next_page({}, cursor),
        "error": error,
        "form": form or {},
    }
    return render(request, "tenant.html", context, status)


@router.get("/tenants/{tenant_id}")
async def tenant_detail(
    request: Request,
    tenant_id: str,
    operator: CurrentOperator,
    database: DatabaseDep,
    before: str | None = None,
) -> Response:
    """One tenant: its API clients and the form that adds one."""
    return await _tenant(request, operator, database, tenant_id, positive_int(before))


@router.post("/tenants/{tenant_id}/clients")
async def tenant_add_client(
    request: Request,
    tenant_id: str,
    uow: Uow,
    database: DatabaseDep,
    keys: Keys,
    operator: Acting,
    display_name: FormText = None,
    email: FormText = None,
) -> Response:
    """Add an API client to the tenant; its secret is shown this once."""
    number = positive_int(tenant_id)
    found = None if number is None else await tenants_queries.tenant(database, number)
    if found is None:
        return not_found(request, operator, "No such tenant.")
    try:
        client_name = required(display_name, "Client name", DISPLAY_NAME_MAX)
        client_email = _email(email)
    except FormError as exc:
        form = {"display_name": display_name or "", "email": email or ""}
        return await _tenant(
            request, operator, database, tenant_id, None, error=str(exc), form=form, status=400
        )
    created = await add_client(
        uow,
        keys.pepper,
        tenant_id=found.id,
        tenant=found.name,
        display_name=client_name,
        email=client_email,
    )
    await _audit_client_created(uow, operator, created, client_name)
    return secret_page(
        request, operator, "Client created", _client_shown(created), f"/tenants/{found.id}"
    )


@router.get("/clients")
async def clients_list(
    request: Request, operator: CurrentOperator, database: DatabaseDep, before: str | None = None
) -> Response:
    """API clients, newest first, with their enable/disable and rotate actions."""
    rows, cursor = await tenants_queries.clients_page(database, positive_int(before))
    return render(
        request, "clients.html", {"me": operator, "rows": rows, "next_url": next_page({}, cursor)}
    )


def _back(tenant: str | None) -> str:
    """Where an action on a client returns: the tenant page it was asked from, or the list."""
    number = positive_int(tenant)
    return "/clients" if number is None else f"/tenants/{number}"


async def _set_enabled(
    uow: Uow, operator: Current, client_id: str, tenant: str | None, *, enabled: bool
) -> Response:
    back = _back(tenant)
    if not await tenants_queries.set_client_enabled(uow, client_id, enabled=enabled):
        raise HTTPException(status_code=404)
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="client.enable" if enabled else "client.disable",
        target=f"client:{client_id}",
    )
    return redirect(back)


@router.post("/clients/{client_id}/disable")
async def disable_client(
    client_id: str, uow: Uow, operator: Acting, tenant: FormText = None
) -> Response:
    """Disable an API client: its next token request, and its tokens past the principal
    cache, are refused."""
    return await _set_enabled(uow, operator, client_id, tenant, enabled=False)


@router.post("/clients/{client_id}/enable")
async def enable_client(
    client_id: str, uow: Uow, operator: Acting, tenant: FormText = None
) -> Response:
    """Enable an API client again."""
    return await _set_enabled(uow, operator, client_id, tenant, enabled=True)


@router.post("/clients/{client_id}/rotate")
async def rotate_client_secret(
    request: Request,
    client_id: str,
    uow: Uow,
    keys: Keys,
    operator: Acting,
    tenant: FormText = None,
) -> Response:
    """Give an API client a new secret, shown this once; the old one is refused from now on
    (tokens already issued stay valid until they expire)."""
    back = _back(tenant)
    secret = await rotate_secret(uow, keys.pepper, client_id)
    if secret is None:
        return not_found(request, operator, "No client with a secret has that id.")
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="client.rotate_secret",
        target=f"client:{client_id}",
    )
    shown = [("client_id", client_id), ("client_secret", secret)]
    return secret_page(request, operator, "Secret rotated", shown, back)
