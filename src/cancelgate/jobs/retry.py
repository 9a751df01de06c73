"""Retrying jobs whose upstream failed: exponential backoff with full jitter."""

from __future__ import annotations

import random

import procrastinate
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision

from cancelgate.jobs.context import current
from cancelgate.upstream.nbn.port import NbnUnavailable

MAX_WAIT_SECONDS = 300.0


def backoff_seconds(attempts: int, base: float, cap: float = MAX_WAIT_SECONDS) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempts)]."""
    # Past 2**30 the cap always wins; bounding the exponent keeps the float finite.
    return random.uniform(0, min(cap, base * 2 ** min(attempts, 30)))


def is_last_attempt(attempts_so_far: int, max_attempts: int) -> bool:
    """True when the running attempt is the last one allowed."""
    return attempts_so_far + 1 >= max_attempts


class UpstreamRetry(procrastinate.BaseRetryStrategy):
    """Retry only transient upstream errors, up to CANCELGATE_JOB_MAX_ATTEMPTS."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """Retry NbnUnavailable with backoff; anything else fails the job."""
        settings = current().settings
        if not isinstance(exception, NbnUnavailable):
            return None
        if is_last_attempt(job.attempts, settings.job_max_attempts):
            return None
        wait = backoff_seconds(job.attempts, settings.job_retry_base_seconds)
        return RetryDecision(retry_in={"seconds": max(1, round(wait))})
