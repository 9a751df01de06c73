"""The statements of the overview page: each one read over an index, whose cost follows what
is open now (running jobs, live workers, the last hour's attempts), never the tables' history.

The jobs waiting and the webhook backlog are the reads `/metrics` makes for its gauges
(`jobs.backlog.waiting_jobs`, `webhooks.repository.pending_backlog`): the page calls them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from cancelgate.db.database import Database, compiled

# Jobs being run, by task: procrastinate's partial indexes on status = 'doing'
# (idx_procrastinate_jobs_worker_not_null, procrastinate_jobs_id_lock_idx_v1).
RUNNING = compiled(
    text(
        """
        SELECT task_name, count(*)
        FROM procrastinate_jobs
        WHERE status = 'doing'
        GROUP BY task_name
        ORDER BY task_name
        """
    )
)

# Workers by heartbeat, as procrastinate sees them: a worker is stalled once its heartbeat is
# older than the threshold the workers are run with (`stalled_after_seconds`); its running
# jobs, and those of workers already pruned (worker_id set to NULL), are the ones
# `maintenance.recover_stalled_jobs` puts back (procrastinate's select_stalled_jobs_by_heartbeat).
# procrastinate_workers holds live workers and stalled ones not yet pruned: a few rows.
WORKERS = compiled(
    text(
        """
        WITH worker AS (
            SELECT id, last_heartbeat,
                   last_heartbeat < now() - make_interval(secs => :stalled_after) AS stalled
            FROM procrastinate_workers
        )
        SELECT
            (SELECT count(*) FROM worker WHERE NOT stalled),
            (SELECT count(*) FROM worker WHERE stalled),
            coalesce((SELECT extract(epoch FROM now() - min(last_heartbeat))
                      FROM worker WHERE stalled), 0)::float8,
            (SELECT count(*) FROM procrastinate_jobs AS job
             WHERE job.status = 'doing'
               AND (job.worker_id IS NULL
                    OR job.worker_id IN (SELECT id FROM worker WHERE stalled)))
        """
    )
)

# Webhook attempts of the last hour and how many failed: only a 2xx delivers
# (`webhooks.policy.verdict`); no answer at all (status_code NULL) is a failure too.
ATTEMPTS_LAST_HOUR = compiled(
    text(
        """
        SELECT count(*),
               count(*) FILTER (WHERE status_code IS NULL OR status_code NOT BETWEEN 200 AND 299)
        FROM webhook_attempts
        WHERE attempted_at >= now() - interval '1 hour'
        """
    )
)

# Open appointment cancellations: the rows of the partial unique index on IN_PROGRESS
# (uq_appointment_cancellations_in_progress), however many finished ones the table holds.
IN_PROGRESS = compiled(
    text("SELECT count(*) FROM appointment_cancellations WHERE status = 'IN_PROGRESS'")
)


@dataclass(frozen=True)
class Workers:
    """The job workers by heartbeat, and the running jobs of stalled (or pruned) workers."""

    alive: int
    stalled: int
    oldest_stalled_seconds: float
    stalled_jobs: int


@dataclass(frozen=True)
class Attempts:
    """Webhook attempts over a period, and how many of them failed."""

    attempts: int
    failed: int

    @property
    def failure_rate(self) -> float | None:
        """failed / attempts, None without attempts."""
        return self.failed / self.attempts if self.attempts else None


async def running_jobs(database: Database) -> list[tuple[str, int]]:
    """The jobs being run now, by task."""
    return [(str(task), int(n)) for task, n in await database.all(RUNNING)]


async def workers(database: Database, stalled_after_seconds: float) -> Workers:
    """The workers alive and stalled (heartbeat older than `stalled_after_seconds`)."""
    row = await database.one(WORKERS, {"stalled_after": stalled_after_seconds})
    assert row is not None  # an aggregate always answers one row
    return Workers(int(row[0]), int(row[1]), max(0.0, float(row[2])), int(row[3]))


async def attempts_last_hour(database: Database) -> Attempts:
    """The webhook attempts made in the last hour, and the failed ones among them."""
    row = await database.one(ATTEMPTS_LAST_HOUR)
    assert row is not None  # an aggregate always answers one row
    return Attempts(int(row[0]), int(row[1]))


async def in_progress(database: Database) -> int:
    """How many appointment cancellations are in progress now."""
    row = await database.one(IN_PROGRESS)
    return int(row[0]) if row is not None else 0
