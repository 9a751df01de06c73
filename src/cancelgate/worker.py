"""The job side of the boundary: every task runs in its own unit of work and is given what it
needs; a worker runs them with this process's runtime, and puts back the jobs of dead workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Concatenate, ParamSpec

import structlog
from procrastinate import JobContext

from cancelgate.db.database import UnitOfWork
from cancelgate.jobs import attempts
from cancelgate.jobs.app import jobs_app
from cancelgate.jobs.retry import RetryLater, WhenAsked
from cancelgate.observability import metrics
from cancelgate.observability.tracing import TRACE_KWARG, job_span
from cancelgate.runtime import Runtime
from cancelgate.upstream import calls

log = structlog.get_logger(__name__)
P = ParamSpec("P")
# The key under which a worker hands its runtime to the jobs it runs.
RUNTIME = "runtime"
WHEN_ASKED = WhenAsked()


@dataclass(frozen=True)
class Job:
    """What a running job gets: its unit of work, the process's runtime, how often it ran."""

    uow: UnitOfWork
    runtime: Runtime
    attempts: int


@contextlib.contextmanager
def timed(task_name: str) -> Iterator[None]:
    """Time one run of a job, unit of work included, by its outcome: `succeeded` (it returned),
    `retry` (it asked for one), `failed` (it raised). A run cut short by a shutdown is not
    counted: the job runs again."""
    started = perf_counter()
    try:
        yield
    except RetryLater:
        metrics.observe_job(task_name, metrics.JOB_RETRY, perf_counter() - started)
        raise
    except Exception:
        metrics.observe_job(task_name, metrics.JOB_FAILED, perf_counter() - started)
        raise
    metrics.observe_job(task_name, metrics.JOB_SUCCEEDED, perf_counter() - started)


def task(
    name: str, *, queueing_lock: str | None = None
) -> Callable[[Callable[Concatenate[Job, P], Awaitable[None]]], Any]:
    """Register a task: it runs in a unit of work that commits when it returns (or asks to be
    retried with RetryLater) and rolls back when it fails; in the trace it was deferred in, if
    it carries one (the `_trace` kwarg, which the task function never sees)."""

    def register(function: Callable[Concatenate[Job, P], Awaitable[None]]) -> Any:
        @jobs_app.task(name=name, pass_context=True, retry=WHEN_ASKED, queueing_lock=queueing_lock)
        async def run(context: JobContext, /, *args: P.args, **kwargs: P.kwargs) -> None:
            runtime: Runtime = context.additional_context[RUNTIME]
            carrier = kwargs.pop(TRACE_KWARG, None)
            job = context.job
            assert job.id is not None  # a fetched job has its id
            running = attempts.Running(job.id, name, job.attempts + 1)
            with (
                timed(name),
                job_span(name, carrier, job_id=job.id, attempts=job.attempts),
                calls.noting() as upstream,
            ):
                try:
                    async with runtime.database.unit_of_work(commit_on=(RetryLater,)) as uow:
                        try:
                            await function(Job(uow, runtime, job.attempts), *args, **kwargs)
                        except RetryLater as retry:
                            # Kept with what the attempt recorded, in its transaction.
                            await attempts.record_error(
                                uow, running, attempts.RETRY, str(retry), upstream
                            )
                            raise
                except RetryLater:
                    raise
                except Exception as exc:
                    # The attempt's transaction rolled back: its error is kept apart.
                    await _keep_failure(runtime, running, exc, upstream)
                    raise

        run.__doc__ = function.__doc__
        return run

    return register


async def _keep_failure(
    runtime: Runtime,
    running: attempts.Running,
    exc: Exception,
    upstream: list[dict[str, Any]],
) -> None:
    """Record a failed attempt in a transaction of its own; a failure to record is logged, never
    raised over the job's own error."""
    error = f"{type(exc).__name__}: {exc}"
    try:
        async with runtime.database.unit_of_work() as uow:
            await attempts.record_error(uow, running, attempts.FAILED, error, upstream)
    except Exception:
        log.exception("job_failure_not_recorded", job_id=running.job_id, task=running.task)


# Seconds are the sixth (last) column in procrastinate cron strings.
@jobs_app.periodic(cron="* * * * * */10", periodic_id="stalled")
@task("maintenance.recover_stalled_jobs", queueing_lock="recover_stalled_jobs")
async def recover_stalled_jobs(job: Job, timestamp: int) -> None:
    """Every 10 s: put back the jobs of workers that stopped sending heartbeats (killed, frozen)."""
    manager = job.runtime.jobs.job_manager
    stalled = await manager.get_stalled_jobs(
        seconds_since_heartbeat=job.runtime.settings.stalled_after_seconds
    )
    for stalled_job in stalled:
        await manager.retry_job(stalled_job)
        log.warning("stalled_job_retried", job_id=stalled_job.id, task=stalled_job.task_name)


async def run_worker(
    runtime: Runtime, *, concurrency: int, install_signal_handlers: bool, name: str = "worker"
) -> None:
    """Process jobs until cancelled or (with signal handlers) SIGTERM/SIGINT."""
    settings = runtime.settings
    await runtime.jobs.run_worker_async(
        name=name,
        concurrency=concurrency,
        install_signal_handlers=install_signal_handlers,
        update_heartbeat_interval=settings.worker_heartbeat_seconds,
        fetch_job_polling_interval=settings.worker_poll_seconds,
        stalled_worker_timeout=settings.stalled_after_seconds,
        shutdown_graceful_timeout=30,
        additional_context={RUNTIME: runtime},
    )


async def stop_worker(task: asyncio.Task[None]) -> None:
    """Cancel an in-process worker and wait for it to let go of its jobs."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
