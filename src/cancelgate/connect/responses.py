"""Answers shared by the request-reply endpoints."""

from __future__ import annotations

import math
from datetime import datetime

from starlette.responses import Response


def still_processing(
    retry_after_seconds: int, *, headers: dict[str, str] | None = None
) -> Response:
    """202 with `Retry-After`: the outcome is not there yet; poll again then."""
    return Response(
        status_code=202, headers={"Retry-After": str(retry_after_seconds), **(headers or {})}
    )


def likely_in(since: datetime, now: datetime, *, at_most: int) -> int:
    """Seconds until the outcome of work started at `since` is likely: 1 s for fresh work, then
    half its age (work that is taking long tends to take longer), from 1 to `at_most`."""
    age = max(0.0, (now - since).total_seconds())
    return max(1, min(at_most, math.ceil(age / 2)))
