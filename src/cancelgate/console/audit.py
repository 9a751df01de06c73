"""The audit log page: what operators did."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from cancelgate.console import repository
from cancelgate.console.paging import NO_BIG_CURSOR
from cancelgate.console.web import CurrentOperator, console_router, next_page, positive_int, render
from cancelgate.dependencies import DatabaseDep

router = console_router()


@router.get("/audit")
async def audit_log(
    request: Request, operator: CurrentOperator, database: DatabaseDep, before: str | None = None
) -> Response:
    """What operators did, newest first."""
    rows, cursor = await repository.audit_page(database, positive_int(before, NO_BIG_CURSOR))
    return render(
        request, "audit.html", {"me": operator, "rows": rows, "next_url": next_page({}, cursor)}
    )
