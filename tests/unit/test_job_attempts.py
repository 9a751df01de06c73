"""Attempts read from the queue's events: each `started` opens one, the next ending event closes
it with its outcome; an attempt whose worker died is closed by the job's next start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cancelgate.jobs.attempts import FAILED, RETRY, attempts_from

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_retry_then_a_success_with_the_retry_error() -> None:
    events = [
        (7, "deferred", at(0)),
        (7, "started", at(1)),
        (7, "deferred_for_retry", at(2)),
        (7, "started", at(5)),
        (7, "succeeded", at(6)),
    ]
    calls = [{"upstream": "nbn", "operation": "cancel", "outcome": "unavailable", "ms": 3.0}]
    first, second = attempts_from(events, {(7, 1): ("retry in 1.0 s: down", calls)})
    assert (first.attempt, first.started_at, first.finished_at, first.outcome) == (
        1, at(1), at(2), RETRY,
    )  # fmt: skip
    assert (first.error, first.upstream) == ("retry in 1.0 s: down", calls)
    assert (second.attempt, second.started_at, second.finished_at) == (2, at(5), at(6))
    assert (second.outcome, second.error, second.upstream) == ("succeeded", None, [])


def test_a_dead_worker_and_a_running_attempt() -> None:
    events = [
        (3, "started", at(0)),  # its worker died: no ending event
        (3, "started", at(30)),
        (3, "failed", at(31)),
        (4, "started", at(40)),  # still running
    ]
    died, failed, running = attempts_from(events, {(3, 2): ("RuntimeError: boom", [])})
    assert (died.attempt, died.finished_at, died.outcome) == (1, None, None)
    assert (failed.attempt, failed.outcome, failed.error) == (2, FAILED, "RuntimeError: boom")
    assert (running.job_id, running.attempt, running.outcome) == (4, 1, None)


def test_jobs_interleave_in_start_order() -> None:
    events = [
        (1, "started", at(0)),
        (1, "deferred_for_retry", at(1)),
        (1, "started", at(10)),
        (1, "succeeded", at(11)),
        (2, "started", at(5)),
        (2, "succeeded", at(6)),
    ]
    assert [(a.job_id, a.attempt) for a in attempts_from(events, {})] == [(1, 1), (2, 1), (1, 2)]
