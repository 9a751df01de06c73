"""Metrics at the boundaries: the HTTP middleware that times every request, the `/metrics`
endpoint (the API port, and the worker's `--metrics-port`), and the installation's gauges that
each scrape reads from the database."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from time import perf_counter
from typing import Any

import psycopg
import structlog
import uvicorn
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cancelgate.db.database import Database
from cancelgate.jobs.app import jobs_app
from cancelgate.jobs.backlog import waiting_jobs
from cancelgate.observability import metrics
from cancelgate.runtime import Runtime
from cancelgate.webhooks.repository import pending_backlog

log = structlog.get_logger(__name__)

METRICS_PATH = "/metrics"
# A scrape answers even when the database does not: without the installation's gauges.
GAUGES_TIMEOUT_SECONDS = 2.0
# procrastinate's built-in tasks (registered under these names) get no series of their own
# unless jobs of theirs wait.
PROCRASTINATE_OWN = ("builtin:", "procrastinate.")


class HttpMetricsMiddleware:
    """Times every HTTP request until its response is sent, by method, route template and
    status: one histogram observation. The template is the route the router chose
    (`scope["route"]`, set as it routes); a response given before routing (an idempotent
    replay, a body too large) is matched against the application's routes, once; a path that
    matches none is `unmatched`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status = 500  # what the server answers if the application raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            metrics.observe_request(
                scope["method"], self._route_of(scope), status, perf_counter() - started
            )

    def _route_of(self, scope: Scope) -> str:
        route = scope.get("route")
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            return template
        if self._templates is None:
            self._templates = _templates(scope["app"].routes)
        path = scope["path"]
        for pattern, found in self._templates:
            if pattern.match(path):
                return found
        return metrics.UNMATCHED_ROUTE


def _templates(routes: list[BaseRoute]) -> list[tuple[re.Pattern[str], str]]:
    """Each route's path pattern and template, in the router's order (routers included in the
    application are walked into)."""
    found = []
    for path in _paths(routes):
        pattern, template, _ = compile_path(path)
        found.append((pattern, template))
    return found


def _paths(routes: list[BaseRoute]) -> Iterator[str]:
    try:  # FastAPI keeps included routers as such, and walks them with this
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: the included routes are copied into the app's
        contexts: Any = routes
    else:
        contexts = iter_route_contexts(routes)
    for context in contexts:
        path = getattr(context, "path", None)
        if isinstance(path, str) and path.startswith("/"):
            yield path


async def installation_gauges(database: Database) -> list[Metric]:
    """The job queue and the webhook backlog as the database has them now: one read each.
    Every registered task has its series, 0 when nothing waits."""
    waiting = GaugeMetricFamily(
        metrics.JOBS_WAITING, "Jobs due and not yet taken by a worker, by task.", labels=["task"]
    )
    oldest = GaugeMetricFamily(
        metrics.JOB_OLDEST_WAITING,
        "How long the oldest due job of each task has waited for a worker (0 when none waits).",
        labels=["task"],
    )
    found = {row.task: row for row in await waiting_jobs(database)}
    ours = {name for name in jobs_app.tasks if not name.startswith(PROCRASTINATE_OWN)}
    for task in sorted(ours | set(found)):
        row = found.get(task)
        waiting.add_metric([task], row.jobs if row else 0)
        oldest.add_metric([task], row.oldest_seconds if row else 0.0)
    async with database.unit_of_work() as uow:
        pending, oldest_pending = await pending_backlog(uow)
    return [
        waiting,
        oldest,
        GaugeMetricFamily(
            metrics.WEBHOOK_PENDING,
            "Webhook deliveries not yet delivered nor given up (retries included).",
            value=pending,
        ),
        GaugeMetricFamily(
            metrics.WEBHOOK_OLDEST_PENDING,
            "Age of the oldest pending webhook delivery (0 when none is pending).",
            value=oldest_pending,
        ),
    ]


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: the Prometheus text format, for this process (every process of a `serve
    --workers N`) and the installation's gauges."""
    runtime: Runtime = request.app.state.runtime
    try:
        async with asyncio.timeout(GAUGES_TIMEOUT_SECONDS):
            gauges = await installation_gauges(runtime.database)
    except (psycopg.Error, OSError, TimeoutError) as exc:
        log.warning("metrics_gauges_unavailable", error=f"{type(exc).__name__}: {exc}")
        gauges = []
    return Response(metrics.exposition(gauges), media_type=metrics.CONTENT_TYPE)


def metrics_route() -> Route:
    """`GET /metrics`, a plain route (no dependencies, no authentication: keep the port private
    or turn it off with CANCELGATE_METRICS=false)."""
    return Route(METRICS_PATH, metrics_endpoint, methods=["GET"], include_in_schema=False)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside a process that handles its own signals (the worker's): it leaves them
    alone and stops when told."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving_metrics(runtime: Runtime, *, host: str, port: int | None) -> AsyncIterator[None]:
    """`GET /metrics` of this process on host:port for the duration of the block (the
    `worker --metrics-port`; no port, nothing). The port is bound before the block starts: a
    port in use fails at once."""
    if port is None:
        yield
        return
    app = Starlette(routes=[metrics_route()])
    app.state.runtime = runtime
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = _EmbeddedServer(config)
    sock = config.bind_socket()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    log.info("metrics_serving", url=f"http://{host}:{port}{METRICS_PATH}")
    try:
        yield
    finally:
        server.should_exit = True
        await serving
        sock.close()
