"""The overview page: requests per minute by API family and status class and the upstream
error rate (from the counts `/metrics` exposes, read once a minute by the app's
`RateHistory`), the job queue and the webhook backlog (from the database, as `/metrics`
reads them), the webhook failure rate of the last hour and the cancellations in progress."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from cancelgate.console import overview_queries, rates
from cancelgate.console.web import CurrentOperator, console_router, render
from cancelgate.dependencies import DatabaseDep, SettingsDep
from cancelgate.jobs.backlog import waiting_jobs
from cancelgate.webhooks.repository import pending_backlog

router = console_router()


@dataclass(frozen=True)
class RequestRates:
    """What the page shows of the readings kept: the window they span, by family and status
    class, by upstream, and minute by minute."""

    note: str
    first_at: str
    classes: list[str]
    families: list[rates.FamilyRow]
    upstreams: list[rates.UpstreamRow]
    minutes: list[rates.Window]
    window: rates.Window | None


def request_rates(readings: list[rates.Reading]) -> RequestRates | None:
    """The page's view of the readings: None without any; no window yet with a single one."""
    if not readings:
        return None
    first = readings[0].at
    if len(readings) < 2:
        return RequestRates("", f"{first:%H:%M:%S} UTC", [], [], [], [], None)
    win = rates.window(readings[0], readings[-1])
    classes, families = rates.family_rows(win)
    return RequestRates(
        rates.history_note(win.start, win.end),
        f"{first:%H:%M:%S} UTC",
        classes,
        families,
        rates.upstream_rows(win),
        rates.minutes_of(readings),
        win,
    )


def history_of(request: Request) -> rates.RateHistory | None:
    """The app's rate history (kept by the lifespan while metrics are on), if any."""
    history: rates.RateHistory | None = getattr(request.app.state, "rate_history", None)
    return history


@router.get("")
async def overview(
    request: Request, operator: CurrentOperator, database: DatabaseDep, settings: SettingsDep
) -> Response:
    """Request and upstream rates, the job queue, the webhook backlog and failure rate."""
    history = history_of(request)
    waiting = await waiting_jobs(database)
    async with database.unit_of_work() as uow:
        pending, oldest_pending = await pending_backlog(uow)
    running = await overview_queries.running_jobs(database)
    context: dict[str, Any] = {
        "me": operator,
        "metrics_on": settings.metrics and history is not None,
        "rates": request_rates(history.readings()) if history is not None else None,
        "sample_minutes": int(rates.SAMPLE_SECONDS // 60),
        "waiting": waiting,
        "waiting_total": sum(w.jobs for w in waiting),
        "oldest_waiting": max((w.oldest_seconds for w in waiting), default=0.0),
        "running": running,
        "running_total": sum(n for _, n in running),
        "workers": await overview_queries.workers(database, settings.stalled_after_seconds),
        "stalled_after": settings.stalled_after_seconds,
        "pending": pending,
        "oldest_pending": oldest_pending,
        "attempts": await overview_queries.attempts_last_hour(database),
        "in_progress": await overview_queries.in_progress(database),
    }
    return render(request, "overview.html", context)
