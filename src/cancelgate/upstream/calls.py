"""The upstream calls of one job attempt, noted as they are made, for the attempt's record."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

# A job attempt's list while it runs; None elsewhere (API requests note nothing).
_CALLS: ContextVar[list[dict[str, Any]] | None] = ContextVar("upstream_calls", default=None)
# An error text kept in a record is cut here: an upstream's body can be long.
MAX_DETAIL = 500


@contextlib.contextmanager
def noting() -> Iterator[list[dict[str, Any]]]:
    """Note every upstream call made in the block (in this task) into the list yielded."""
    calls: list[dict[str, Any]] = []
    token = _CALLS.set(calls)
    try:
        yield calls
    finally:
        _CALLS.reset(token)


def note(upstream: str, operation: str, outcome: str, seconds: float, detail: str | None) -> None:
    """One call and its outcome, when a job attempt is noting."""
    calls = _CALLS.get()
    if calls is not None:
        call: dict[str, Any] = {
            "upstream": upstream,
            "operation": operation,
            "outcome": outcome,
            "ms": round(seconds * 1000, 1),
        }
        if detail:
            call["detail"] = detail[:MAX_DETAIL]
        calls.append(call)
