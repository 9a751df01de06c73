"""How far behind the workers are: the jobs that are due and not yet taken, per task."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from cancelgate.db.database import Database, compiled

# One statement over the queue's `todo` rows (procrastinate's partial index on them): a job is
# waiting once it is due (no schedule, or its time has come); it has waited since its scheduled
# time, or, unscheduled, since it was deferred (procrastinate's `deferred` event, read for the
# oldest such job of each task only). Jobs scheduled for later are not waiting.
WAITING = compiled(
    text(
        """
        WITH waiting AS (
            SELECT task_name,
                   count(*) AS jobs,
                   min(scheduled_at) AS first_due,
                   min(id) FILTER (WHERE scheduled_at IS NULL) AS first_deferred
            FROM procrastinate_jobs
            WHERE status = 'todo' AND (scheduled_at IS NULL OR scheduled_at <= now())
            GROUP BY task_name
        )
        SELECT waiting.task_name,
               waiting.jobs,
               coalesce(extract(epoch FROM now() - least(
                   waiting.first_due,
                   (SELECT min(event.at) FROM procrastinate_events AS event
                    WHERE event.job_id = waiting.first_deferred AND event.type = 'deferred')
               )), 0)::float8
        FROM waiting
        """
    )
)


@dataclass(frozen=True)
class Waiting:
    """A task's due jobs that no worker has taken yet, and the longest any has waited."""

    task: str
    jobs: int
    oldest_seconds: float


async def waiting_jobs(database: Database) -> list[Waiting]:
    """Every task with jobs waiting (one read)."""
    rows = await database.all(WAITING)
    return [Waiting(str(task), int(jobs), max(0.0, float(oldest))) for task, jobs, oldest in rows]
