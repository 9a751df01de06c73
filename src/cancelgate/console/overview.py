"""The overview page."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from cancelgate.console import overview_queries
from cancelgate.console.web import CurrentOperator, console_router, render
from cancelgate.dependencies import DatabaseDep
from cancelgate.jobs.backlog import waiting_jobs

router = console_router()


@router.get("")
async def overview(request: Request, operator: CurrentOperator, database: DatabaseDep) -> Response:
    """Counts of appointment cancellations by status, and the jobs waiting."""
    counts = await overview_queries.counts_by_status(database)
    waiting = await waiting_jobs(database)
    return render(request, "overview.html", {"me": operator, "counts": counts, "waiting": waiting})
