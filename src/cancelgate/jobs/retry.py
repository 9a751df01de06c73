"""One retry rule for every job whose upstream failed: the job asks, with the wait it wants.

A task that met a transient upstream failure records what it must, then raises `RetryLater`
(its unit of work still commits); procrastinate runs it again after the wait. On its last
attempt it gives up instead, in the way its feature says.
"""

from __future__ import annotations

import random

import procrastinate
from procrastinate.jobs import Job
from procrastinate.retry import RetryDecision

MAX_WAIT_SECONDS = 300.0


class RetryLater(Exception):
    """Run this job again after `seconds`; what the job recorded so far is kept."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(f"retry in {seconds:.1f} s: {reason}")
        self.seconds = seconds


def backoff_seconds(attempts: int, base: float, cap: float = MAX_WAIT_SECONDS) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base * 2**attempts)]."""
    # Past 2**30 the cap always wins; bounding the exponent keeps the float finite.
    return random.uniform(0, min(cap, base * 2 ** min(attempts, 30)))


def is_last_attempt(attempts_so_far: int, max_attempts: int) -> bool:
    """True when the running attempt is the last one allowed."""
    return attempts_so_far + 1 >= max_attempts


def retry_later(
    attempts_so_far: int, *, max_attempts: int, base_seconds: float, reason: str
) -> RetryLater | None:
    """The retry to raise after a transient failure, or None when this was the last attempt."""
    if is_last_attempt(attempts_so_far, max_attempts):
        return None
    wait = max(1.0, backoff_seconds(attempts_so_far, base_seconds))
    return RetryLater(wait, reason)


class WhenAsked(procrastinate.BaseRetryStrategy):
    """Retry exactly the jobs that raised RetryLater, after the wait they asked for."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """RetryLater: again after its wait; anything else fails the job."""
        if not isinstance(exception, RetryLater):
            return None
        return RetryDecision(retry_in={"seconds": max(1, round(exception.seconds))})
