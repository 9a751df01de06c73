"""The procrastinate app that every task registers with, on the process's own pool."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import procrastinate
from psycopg_pool import AsyncConnectionPool

from cancelgate.db.database import UnitOfWork
from cancelgate.observability.tracing import job_trace

# Tasks register here when their modules are imported (the application and the worker command
# import them); each process opens it once on its pool (open_jobs).
jobs_app = procrastinate.App(connector=procrastinate.PsycopgConnector())


async def open_jobs(pool: AsyncConnectionPool) -> None:
    """Run the jobs app on the process's pool: autocommit connections, so each of the queue's
    own statements (fetch, finish, retry) is one round trip."""
    # A connector keeps a pool it was given even after closing: each opening gets a fresh one,
    # so that a process can open the app again (serve seeds the demo first, then serves).
    connector = procrastinate.PsycopgConnector()
    jobs_app.connector = connector
    jobs_app.job_manager.connector = connector
    await jobs_app.open_async(pool)


async def defer(
    uow: UnitOfWork, task: str, *, schedule_at: datetime | None = None, **args: Any
) -> int:
    """Defer a job in the unit's transaction: it exists only if the unit commits. Its id.

    While tracing is on, the job also carries the current trace context (popped by the task
    wrapper, never seen by the task)."""
    job_id: int = await jobs_app.configure_task(
        task,
        allow_unknown=False,
        connection=await uow.connection(),
        schedule_at=schedule_at,
    ).defer_async(**args, **job_trace(scheduled=schedule_at is not None))
    return job_id
