"""The appointment cancellation pages: the filtered list and each request's timeline."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from cancelgate.console import requests_queries
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

STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED")

router = console_router()


@router.get("/requests")
async def requests_list(
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
    """Appointment cancellations, newest first, 50 a page (`?before=<id>`), filtered by tenant,
    status, the business day they were requested on, and id."""
    tenant_name = text_filter(tenant)
    status_name = (text_filter(status) or "").upper() or None
    rows, cursor = await requests_queries.requests_page(
        database,
        before=positive_int(before),
        tenant=tenant_name,
        status=status_name,
        requested=day_filter(day, zone),
        request_id=positive_int(id),
    )
    shown = {
        "tenant": tenant_name or "",
        "status": status_name or "",
        "day": (day or "").strip(),
        "id": (id or "").strip(),
    }
    return render(
        request,
        "requests.html",
        {
            "me": operator,
            "rows": rows,
            "next_url": next_page(shown, cursor),
            "filters": shown,
            "statuses": STATUSES,
            "zone": zone.key,
        },
    )


@router.get("/requests/{request_id}")
async def request_detail(
    request: Request, request_id: str, operator: CurrentOperator, database: DatabaseDep
) -> Response:
    """One appointment cancellation and its timeline."""
    number = positive_int(request_id)
    found = None if number is None else await requests_queries.timeline(database, number)
    if found is None:
        return not_found(request, operator, "No such request.")
    return render(request, "request.html", {"me": operator, "t": found})
