"""The service cancellation pages: the filtered list and each cancellation's timeline."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from cancelgate.console import services_queries
from cancelgate.console.paging import request_page
from cancelgate.console.services_queries import CancellationRow
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
from cancelgate.domain.services import ServiceCancellationStatus

STATUSES = tuple(status.value for status in ServiceCancellationStatus)

router = console_router()


@router.get("/services")
async def services_list(
    request: Request,
    operator: CurrentOperator,
    database: DatabaseDep,
    zone: ZoneDep,
    filters: Filters,
) -> Response:
    """Service cancellations, newest first, 50 a page (`?before=<id>`), filtered by tenant,
    status, the business day they were requested on, and id."""
    statement = services_queries.cancellations_page(filters.shape())
    page = await request_page(database, statement, filters, CancellationRow)
    return request_list(request, operator, "services.html", page, filters, STATUSES, zone)


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
