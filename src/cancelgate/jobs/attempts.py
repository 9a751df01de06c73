"""The attempts of a job: recorded when one does not succeed, read for the console's timeline.

An attempt's start and end come from procrastinate's own events of the job (`started`, then
`succeeded`, `deferred_for_retry` or `failed`); what went wrong, and the upstream calls the
attempt made, from `job_attempt_errors`, written only by attempts that did not succeed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, insert, text

from cancelgate.db.database import Database, UnitOfWork, compiled
from cancelgate.jobs.models import JobAttemptError

RETRY, FAILED = "retry", "failed"
# procrastinate's events that end an attempt, and the outcome each means.
_ENDINGS = {"succeeded": "succeeded", "deferred_for_retry": RETRY, "failed": FAILED}
# An error text kept is cut here (an exception's text may carry a whole upstream body).
MAX_ERROR = 2000

INSERT_ERROR = compiled(
    insert(JobAttemptError).values(
        job_id=bindparam("job_id"),
        task=bindparam("task"),
        attempt=bindparam("attempt"),
        outcome=bindparam("outcome"),
        error=bindparam("error"),
        upstream=bindparam("upstream"),
    )
)


@dataclass(frozen=True)
class Running:
    """Which attempt of which job is running (1 for the first)."""

    job_id: int
    task: str
    attempt: int


async def record_error(
    uow: UnitOfWork, running: Running, outcome: str, error: str, upstream: list[dict[str, Any]]
) -> None:
    """Keep what went wrong in an attempt (its `outcome` RETRY or FAILED), in the unit's
    transaction."""
    await uow.execute(
        INSERT_ERROR,
        {
            "job_id": running.job_id,
            "task": running.task,
            "attempt": running.attempt,
            "outcome": outcome,
            "error": error[:MAX_ERROR],
            "upstream": Jsonb(upstream),
        },
    )


@dataclass(frozen=True)
class Attempt:
    """One attempt of a job, as far as it got."""

    job_id: int
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None  # None while it runs (or when its worker died)
    error: str | None
    upstream: list[dict[str, Any]]


# The jobs of one subject (a cancellation) and their events, in order: the index on
# (task_name, args->>'cancellation_id') of migration 0012 finds the jobs.
SUBJECT_EVENTS = compiled(
    text(
        "SELECT e.job_id, e.type::text, e.at FROM procrastinate_jobs j"
        " JOIN procrastinate_events e ON e.job_id = j.id"
        " WHERE j.task_name = :task AND j.args->>'cancellation_id' = :subject"
        " ORDER BY e.job_id, e.id"
    )
)
SUBJECT_ERRORS = compiled(
    text(
        "SELECT x.job_id, x.attempt, x.error, x.upstream FROM procrastinate_jobs j"
        " JOIN job_attempt_errors x ON x.job_id = j.id"
        " WHERE j.task_name = :task AND j.args->>'cancellation_id' = :subject"
    )
)


def attempts_from(
    events: list[tuple[int, str, datetime]],
    errors: dict[tuple[int, int], tuple[str, list[dict[str, Any]]]],
) -> list[Attempt]:
    """Each job's attempts from its events in order (a `started` opens one, the next ending
    event closes it), with the error kept for (job, attempt)."""
    found: list[Attempt] = []
    open_: dict[int, tuple[int, datetime]] = {}
    counts: dict[int, int] = {}
    for job_id, kind, at in events:
        if kind == "started":
            if job_id in open_:  # its worker died mid-attempt: the job was started again
                found.append(_attempt(job_id, *open_[job_id], None, None, errors))
            counts[job_id] = counts.get(job_id, 0) + 1
            open_[job_id] = (counts[job_id], at)
        elif kind in _ENDINGS and job_id in open_:
            number, started = open_.pop(job_id)
            found.append(_attempt(job_id, number, started, at, _ENDINGS[kind], errors))
    found.extend(_attempt(job_id, n, at, None, None, errors) for job_id, (n, at) in open_.items())
    return sorted(found, key=lambda a: (a.started_at, a.job_id))


def _attempt(
    job_id: int,
    number: int,
    started: datetime,
    finished: datetime | None,
    outcome: str | None,
    errors: dict[tuple[int, int], tuple[str, list[dict[str, Any]]]],
) -> Attempt:
    error, upstream = errors.get((job_id, number), (None, []))
    return Attempt(job_id, number, started, finished, outcome, error, upstream)


async def attempts_of(database: Database, task: str, cancellation_id: int) -> list[Attempt]:
    """Every attempt of the `task` jobs of one cancellation, oldest first (2 reads)."""
    params = {"task": task, "subject": str(cancellation_id)}
    events = [(int(j), str(k), at) for j, k, at in await database.all(SUBJECT_EVENTS, params)]
    errors = {
        (int(j), int(n)): (str(error), list(upstream or []))
        for j, n, error, upstream in await database.all(SUBJECT_ERRORS, params)
    }
    return attempts_from(events, errors)
