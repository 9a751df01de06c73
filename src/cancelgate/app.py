"""create_app(): the ASGI application with both API families, middleware and error handlers."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from cancelgate import __version__
from cancelgate.appointments.router import router as appointments_router
from cancelgate.auth.principal import Authenticator
from cancelgate.auth.principal_cache import PrincipalCache
from cancelgate.auth.router import router as auth_router
from cancelgate.connect.openapi import finish_document
from cancelgate.console.rates import RateHistory
from cancelgate.console.router import router as console_router
from cancelgate.db.embedded import release_embedded
from cancelgate.db.listener import Listener
from cancelgate.health import router as health_router
from cancelgate.idempotency.middleware import IdempotencyMiddleware
from cancelgate.metrics_app import (
    METRICS_PATH,
    HttpMetricsMiddleware,
    metrics_endpoint,
)
from cancelgate.observability.tracing import configure_from_environment, instrument_app
from cancelgate.rate_limits import RateLimiter
from cancelgate.runtime import open_runtime
from cancelgate.sandbox.clock_router import router as clock_router
from cancelgate.sandbox.fixtures_router import router as fixtures_router
from cancelgate.sandbox.ux_fixtures_router import router as ux_fixtures_router
from cancelgate.services.router import router as services_router
from cancelgate.services.sandbox_router import router as sandbox_router
from cancelgate.settings import Settings, get_settings
from cancelgate.ux.middleware import CorrelationIdMiddleware
from cancelgate.ux.router import router as ux_router
from cancelgate.web.body_limit import BodyLimitMiddleware
from cancelgate.web.handlers import install_error_handlers
from cancelgate.web.security import SecurityHeadersMiddleware
from cancelgate.webhooks.feed_router import router as webhook_events_router
from cancelgate.webhooks.router import router as webhooks_router
from cancelgate.worker import run_worker, stop_worker

# Every module that registers tasks: a worker must know them all, whichever process it runs in.
TASK_MODULES = (
    "cancelgate.appointments.tasks",
    "cancelgate.services.tasks",
    "cancelgate.webhooks.tasks",
    "cancelgate.idempotency.tasks",
    "cancelgate.auth.tasks",
    "cancelgate.worker",
)


def load_tasks() -> None:
    """Register every task with the jobs app (importing a module twice does nothing)."""
    for module in TASK_MODULES:
        importlib.import_module(module)


def create_app(settings: Settings) -> FastAPI:
    """The API; with settings.in_process_worker it also processes jobs in this process."""
    # Every process that serves requests defers jobs: it must know every task.
    load_tasks()
    # Traces, if the OTEL_* variables ask for them (once per process).
    configure_from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await open_runtime(settings)
        app.state.runtime = runtime
        app.state.authenticator = Authenticator(
            database=runtime.database,
            keys=runtime.keys,
            settings=settings,
            cache=PrincipalCache(settings.principal_cache_seconds),
        )
        app.state.rate_limiter = RateLimiter(settings)
        listener = Listener(runtime.database_url, max_waiting=settings.long_poll_max_waiting)
        await listener.start()
        app.state.listener = listener
        worker_task = None
        if settings.in_process_worker:
            worker_task = asyncio.create_task(
                run_worker(
                    runtime,
                    concurrency=settings.worker_concurrency,
                    install_signal_handlers=False,
                    name="in-process",
                )
            )
        # The console's request rates: the metrics' totals, read once a minute.
        rate_history = None
        if settings.metrics and settings.console:
            rate_history = app.state.rate_history = RateHistory()
            rate_history.start()
        try:
            yield
        finally:
            if rate_history is not None:
                await rate_history.stop()
            await listener.stop()
            if worker_task is not None:
                await stop_worker(worker_task)
            await runtime.close()
            release_embedded(settings.data_dir)

    app = FastAPI(
        title="cancelgate",
        version=__version__,
        description=(
            "Connect API (appointment and service cancellation) and UX API (TMF646 appointment "
            "cancellation) over a PostgreSQL-backed core."
        ),
        lifespan=lifespan,
    )
    # Innermost first: idempotency sees only bodies within the limit.
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        SecurityHeadersMiddleware,
        deprecated_since=settings.deprecation_date,
        deprecation_link=settings.deprecation_link,
    )
    # Outermost, so that even a crash's 500 echoes the caller's X-Correlation-ID.
    app.add_middleware(CorrelationIdMiddleware)
    if settings.metrics:
        # Around the others: every request timed until its response is sent.
        app.add_middleware(HttpMetricsMiddleware)
    # Around all of them while tracing is on: a server span per request.
    instrument_app(app)
    install_error_handlers(app)
    app.include_router(auth_router)
    app.include_router(appointments_router)
    app.include_router(services_router)
    app.include_router(ux_router)
    app.include_router(webhooks_router)
    app.include_router(webhook_events_router)
    # Mounted always, answered only where the installation's sandbox is on (404 otherwise).
    app.include_router(sandbox_router)
    app.include_router(fixtures_router)
    app.include_router(ux_fixtures_router)
    app.include_router(clock_router)
    app.include_router(health_router)
    app.include_router(console_router)
    if settings.metrics:
        app.add_route(METRICS_PATH, metrics_endpoint, methods=["GET"], include_in_schema=False)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_document(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_environment() -> FastAPI:
    """The app as configured by the environment: what each `serve --workers N` process runs."""
    return create_app(get_settings())
