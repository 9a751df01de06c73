"""Delivery rules as pure functions: what counts, when to retry, when to give up or disable."""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

MAX_RETRY_AFTER_SECONDS = 24 * 3600.0


class Verdict(enum.StrEnum):
    """What one attempt's answer means for its delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"
    GONE = "gone"


def parse_schedule(text: str) -> list[float]:
    """The retry waits of a `5,300,…` setting."""
    return [float(part) for part in text.split(",") if part.strip()]


def verdict(status_code: int | None) -> Verdict:
    """Only a 2xx delivers; 410 means the endpoint is gone; anything else is retried."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.DELIVERED
    if status_code == 410:
        return Verdict.GONE
    return Verdict.RETRY


def retry_after_seconds(status_code: int | None, header: str | None, now: datetime) -> float | None:
    """The wait a 429 or 503 asks for (delta-seconds or HTTP date), bounded; else None."""
    if status_code not in (429, 503):
        return None
    # The client's parser: one reading of Retry-After for the whole product. Imported here, not
    # at the top: `cancelgate serve` starts even with the client distribution uninstalled.
    from cancelgate_client.polling import parse_retry_after

    asked = parse_retry_after(header, now)
    return None if asked is None else min(asked, MAX_RETRY_AFTER_SECONDS)


def next_wait(
    schedule: Sequence[float],
    attempts_so_far: int,
    asked: float | None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to the next attempt (full jitter, at least what was asked); None to give up."""
    if attempts_so_far > len(schedule):
        return None
    base = schedule[attempts_so_far - 1]
    jittered = (rng or random).uniform(0, base)
    return max(jittered, asked or 0.0)


def should_disable(failing_since: datetime | None, now: datetime, after_seconds: float) -> bool:
    """True once deliveries have failed without a break for longer than allowed."""
    return failing_since is not None and now - failing_since >= timedelta(seconds=after_seconds)
