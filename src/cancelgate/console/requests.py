"""The appointment cancellation pages: the filtered list and each request's timeline."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from cancelgate.console import requests_queries
from cancelgate.console.paging import request_page
from cancelgate.console.requests_queries import RequestRow
from cancelgate.console.web import (
    CurrentOperator,
    Filters,
    console_router,
    not_found,
    positive_int,
    render,
    request_list,
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
    filters: Filters,
) -> Response:
    """Appointment cancellations, newest first, 50 a page (`?before=<id>`), filtered by tenant,
    status, the business day they were requested on, and id."""
    statement = requests_queries.requests_page(filters.shape())
    page = await request_page(database, statement, filters, RequestRow)
    return request_list(request, operator, "requests.html", page, filters, STATUSES, zone)


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
