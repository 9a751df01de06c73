"""The procrastinate app that every task registers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.db.urls import libpq_url

TASK_MODULES = [
    "cancelgate.appointments.tasks",
    "cancelgate.services.tasks",
    "cancelgate.webhooks.delivery",
    "cancelgate.jobs.maintenance",
]

# Tasks register here at import; each process opens it once on its own pool (open_jobs).
jobs_app = procrastinate.App(connector=procrastinate.PsycopgConnector(), import_paths=TASK_MODULES)


async def open_jobs(database_url: str, *, max_size: int = 10) -> AsyncConnectionPool:
    """Connect the jobs app to this database; the returned pool is the caller's to close."""
    pool = AsyncConnectionPool(
        libpq_url(database_url),
        min_size=1,
        max_size=max_size,
        open=False,
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=True)
    # A connector keeps a pool it was given even after closing: each opening gets a fresh one,
    # so that a process can open the app again (serve seeds the demo first, then serves).
    connector = procrastinate.PsycopgConnector()
    jobs_app.connector = connector
    jobs_app.job_manager.connector = connector
    await jobs_app.open_async(pool)
    return pool


async def driver_connection(session: AsyncSession) -> object:
    """The psycopg connection under a session, so a job is deferred in its transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


async def defer_in(
    session: AsyncSession, task: str, *, schedule_at: datetime | None = None, **args: Any
) -> int:
    """Defer a job in the session's transaction: it exists only if that commits. Its id."""
    job_id: int = await jobs_app.configure_task(
        task,
        allow_unknown=False,
        connection=await driver_connection(session),
        schedule_at=schedule_at,
    ).defer_async(**args)
    return job_id
