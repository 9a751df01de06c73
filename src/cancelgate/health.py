"""Liveness (`/healthz`) and readiness (`/readyz`) probes for process managers and balancers."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import JSONResponse

from cancelgate.db.migrate import head_revision

router = APIRouter(include_in_schema=False)

# A readiness probe must answer quickly even when the database hangs.
READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """200 when the database answers and is at the latest migration, else 503 saying which."""
    runtime = request.app.state.runtime
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), runtime.engine.connect() as conn:
            current = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    except (SQLAlchemyError, OSError, TimeoutError):
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    expected = head_revision()
    if current != expected:
        stale = {"status": "unavailable", "migration": current, "expected": expected}
        return JSONResponse(stale, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok", "migration": current})
