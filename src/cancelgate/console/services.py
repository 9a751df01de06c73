"""The service cancellation pages: the filtered list and each cancellation's timeline."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from cancelgate.console import services_queries
from cancelgate.console.web import (
    CurrentOperator,
    console_router,
    day_filter,
    next_page,
    not_found,
    positive_int,
    render,
    text_filter,
)
from cancelgate.dependencies import DatabaseDep, ZoneDep
from cancelgate.domain.services import ServiceCancellationStatus

STATUSES = tuple(status.value for status in ServiceCancellationStatus)

router = console_router()


@router.get("/services")
async def services_list(
    request: Request,
    operator: CurrentOperator,
    database: DatabaseDep,
    zone: ZoneDep,
    before: str | None = None,
    tenant: str | None = None,
    status: str | None = None,
    day: str | None = None,
    id: str | None = None,
) -> Response:
    """Service cancellations, newest first, 50 a page (`?before=<id>`), filtered by tenant,
    status, the business day they were requested on, and id."""
    tenant_name = text_filter(tenant)
    status_name = (text_filter(status) or "").upper() or None
    requested = day_filter(day, zone)
    rows, cursor = await services_queries.cancellations_page(
        database,
        before=positive_int(before),
        tenant=tenant_name,
        status=status_name,
        requested=requested,
        cancellation_id=positive_int(id),
    )
    shown = {
        "tenant": tenant_name or "",
        "status": status_name or "",
        "day": (day or "").strip(),
        "id": (id or "").strip(),
    }
    return render(
        request,
        "services.html",
        {
            "me": operator,
            "rows": rows,
            "next_url": next_page(shown, cursor),
            "filters": shown,
            "statuses": STATUSES,
            "zone": zone.key,
        },
    )


@router.get("/services/{cancellation_id}")
async def service_detail(
    request: Request, cancellation_id: str, operator: CurrentOperator, database: DatabaseDep
) -> Response:
    """One service cancellation and its timeline."""
    number = positive_int(cancellation_id)
    found = None if number is None else await services_queries.timeline(database, number)
    if found is None:
        return not_found(request, operator, "No such service cancellation.")
    return render(request, "service.html", {"me": operator, "t": found})
