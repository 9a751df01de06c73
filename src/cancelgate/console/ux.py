"""The UX API's pages: UX cancellations searched by correlation id, appointment id or business
unit (each with its events), and the channel clients that call the UX API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from cancelgate.console import repository, ux_queries
from cancelgate.console.tenants import FormText, required, secret_page
from cancelgate.console.web import (
    Acting,
    Current,
    CurrentOperator,
    console_router,
    next_page,
    not_found,
    positive_int,
    render,
    text_filter,
)
from cancelgate.dependencies import DatabaseDep, Keys, SettingsDep, Uow
from cancelgate.ux.clients import add_channel_client, parse_business_units

# TMF646 appointment statuses; the list shows the cancelled ones unless asked otherwise.
STATUSES = ("initialized", "confirmed", "cancelled", "completed", "failed")
DEFAULT_STATUS = "cancelled"
ANY_STATUS = "any"
# The columns' lengths (ux_appointments, channel_clients.name; X-Correlation-ID's limit).
CORRELATION_ID_MAX = 200
APPOINTMENT_ID_MAX = 40
BUSINESS_ID_MAX = 2
CHANNEL_NAME_MAX = 200

router = console_router()


def _status(value: str | None) -> str:
    """The status filter: cancelled when absent, `any`, or a TMF646 status; 400 otherwise."""
    if value is None:
        return DEFAULT_STATUS
    found = value.strip().lower()
    if found not in (*STATUSES, ANY_STATUS):
        raise HTTPException(status_code=400, detail="unknown status")
    return found


@router.get("/ux")
async def ux_list(
    request: Request,
    operator: CurrentOperator,
    database: DatabaseDep,
    settings: SettingsDep,
    before: str | None = None,
    correlation_id: str | None = None,
    appointment_id: str | None = None,
    business_id: str | None = None,
    status: str | None = None,
) -> Response:
    """UX appointments (cancelled ones unless asked), newest first, 50 a page, filtered."""
    correlation = text_filter(correlation_id, CORRELATION_ID_MAX)
    appointment = text_filter(appointment_id, APPOINTMENT_ID_MAX)
    unit = (text_filter(business_id, BUSINESS_ID_MAX) or "").upper() or None
    status_name = _status(status)
    rows, cursor = await ux_queries.ux_page(
        database,
        before=positive_int(before),
        correlation_id=correlation,
        appointment_id=appointment,
        business_id=unit,
        status=None if status_name == ANY_STATUS else status_name,
    )
    shown = {
        "correlation_id": correlation or "",
        "appointment_id": appointment or "",
        "business_id": unit or "",
        "status": status_name,
    }
    return render(
        request,
        "ux.html",
        {
            "me": operator,
            "rows": rows,
            "next_url": next_page(shown, cursor),
            "filters": shown,
            "statuses": (ANY_STATUS, *STATUSES),
            "units": sorted(settings.ux_business_units),
        },
    )


@router.get("/ux/{appointment_pk}")
async def ux_detail(
    request: Request, appointment_pk: str, operator: CurrentOperator, database: DatabaseDep
) -> Response:
    """One UX appointment and its state-change events."""
    number = positive_int(appointment_pk)
    found = None if number is None else await ux_queries.ux_detail(database, number)
    if found is None:
        return not_found(request, operator, "No such UX appointment.")
    return render(request, "ux_appointment.html", {"me": operator, "d": found})


async def _channel_clients(
    request: Request,
    operator: Current,
    database: DatabaseDep,
    units: frozenset[str],
    before: int | None,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    rows, cursor = await ux_queries.channel_clients_page(database, before)
    context: dict[str, Any] = {
        "me": operator,
        "rows": rows,
        "next_url": next_page({}, cursor),
        "units": sorted(units),
        "error": error,
        "form": form or {"name": "", "units": []},
    }
    return render(request, "channel_clients.html", context, status)


@router.get("/channel-clients")
async def channel_clients_list(
    request: Request,
    operator: CurrentOperator,
    database: DatabaseDep,
    settings: SettingsDep,
    before: str | None = None,
) -> Response:
    """The UX API's channel clients, newest first, with their business units, and the form
    that creates one."""
    return await _channel_clients(
        request, operator, database, settings.ux_business_units, positive_int(before)
    )


@router.post("/channel-clients")
async def channel_client_create(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    settings: SettingsDep,
    keys: Keys,
    operator: Acting,
    name: FormText = None,
    units: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Create a channel client allowed some of the configured business units; its secret is
    shown this once."""
    chosen = units or []
    try:
        channel_name = required(name, "Name", CHANNEL_NAME_MAX)
        # The command line's own check: every unit configured, at least one.
        allowed = parse_business_units(",".join(chosen), settings.ux_business_units)
    except ValueError as exc:  # FormError included
        form = {"name": name or "", "units": chosen}
        return await _channel_clients(
            request,
            operator,
            database,
            settings.ux_business_units,
            None,
            error=str(exc),
            form=form,
            status=400,
        )
    created = await add_channel_client(uow, keys.pepper, name=channel_name, business_units=allowed)
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="channel_client.create",
        target=f"channel_client:{created.client_id}",
        detail={"name": channel_name, "business_units": allowed},
    )
    shown = [
        ("Name", created.name),
        ("Business units", ", ".join(created.business_units)),
        ("client_id", created.client_id),
        ("client_secret", created.client_secret),
    ]
    return secret_page(request, operator, "Channel client created", shown, "/channel-clients")
