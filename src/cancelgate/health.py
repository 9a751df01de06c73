"""Liveness (`/healthz`) and readiness (`/readyz`) probes for process managers and balancers."""

from __future__ import annotations

import asyncio

import psycopg
from fastapi import APIRouter
from sqlalchemy import column, select, table
from starlette.responses import JSONResponse

from cancelgate.db.database import compiled
from cancelgate.dependencies import DatabaseDep
from cancelgate.migrate import head_revision

router = APIRouter(include_in_schema=False)

# A readiness probe must answer quickly even when the database hangs.
READY_TIMEOUT_SECONDS = 2.0
CURRENT_MIGRATION = compiled(select(column("version_num")).select_from(table("alembic_version")))


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up and its event loop answers."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(database: DatabaseDep) -> JSONResponse:
    """200 when the database answers and is at the latest migration, else 503 saying which."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            row = await database.one(CURRENT_MIGRATION)
    except (psycopg.Error, OSError, TimeoutError):
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    current = None if row is None else row[0]
    expected = head_revision()
    if current != expected:
        stale = {"status": "unavailable", "migration": current, "expected": expected}
        return JSONResponse(stale, status_code=503)
    return JSONResponse({"status": "ready", "database": "ok", "migration": current})
