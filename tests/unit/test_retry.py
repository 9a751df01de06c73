"""The one retry mechanism of upstream jobs: backoff with full jitter, the last-attempt rule,
the retry a job asks for (`retry_later`) and the strategy that grants it (`WhenAsked`)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procrastinate.jobs import Job

from cancelgate.jobs.retry import (
    MAX_WAIT_SECONDS,
    RetryLater,
    WhenAsked,
    backoff_seconds,
    is_last_attempt,
    retry_later,
)
from cancelgate.upstream.nbn.port import NbnUnavailable


def highest(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, float]]:
    """Make the jitter draw its upper bound; the bounds of every draw."""
    calls: list[tuple[float, float]] = []

    def fake_uniform(low: float, high: float) -> float:
        calls.append((low, high))
        return high

    monkeypatch.setattr("cancelgate.jobs.retry.random.uniform", fake_uniform)
    return calls


@given(
    attempts=st.integers(min_value=0, max_value=64),
    base=st.floats(min_value=0.0, max_value=600.0, allow_nan=False, allow_infinity=False),
    cap=st.floats(min_value=0.0, max_value=3600.0, allow_nan=False, allow_infinity=False),
)
def test_backoff_is_within_full_jitter_bounds(attempts: int, base: float, cap: float) -> None:
    wait = backoff_seconds(attempts, base, cap)
    assert 0 <= wait <= min(cap, base * 2**attempts)


@given(attempts=st.integers(min_value=0, max_value=64), base=st.floats(0.0, 600.0))
def test_default_cap_is_five_minutes(attempts: int, base: float) -> None:
    assert 0 <= backoff_seconds(attempts, base) <= MAX_WAIT_SECONDS


def test_max_wait() -> None:
    assert MAX_WAIT_SECONDS == 300.0


@pytest.mark.parametrize(
    ("attempts", "base", "cap", "upper"),
    [
        (0, 2.0, 300.0, 2.0),
        (1, 2.0, 300.0, 4.0),
        (3, 2.0, 300.0, 16.0),
        (7, 2.0, 300.0, 256.0),
        (8, 2.0, 300.0, 300.0),
        (20, 2.0, 300.0, 300.0),
        (4, 1.0, 10.0, 10.0),
    ],
)
def test_jitter_range(
    monkeypatch: pytest.MonkeyPatch, attempts: int, base: float, cap: float, upper: float
) -> None:
    calls = highest(monkeypatch)
    assert backoff_seconds(attempts, base, cap) == upper
    assert calls == [(0, upper)]


def test_backoff_is_random() -> None:
    rng_state = random.getstate()
    try:
        random.seed(1234)
        waits = {backoff_seconds(10, 1.0) for _ in range(20)}
    finally:
        random.setstate(rng_state)
    assert len(waits) > 1


@pytest.mark.parametrize(
    ("attempts_so_far", "max_attempts", "expected"),
    [
        (0, 1, True),
        (0, 5, False),
        (3, 5, False),
        (4, 5, True),
        (5, 5, True),
        (9, 5, True),
        (0, 0, True),
    ],
)
def test_is_last_attempt(attempts_so_far: int, max_attempts: int, expected: bool) -> None:
    assert is_last_attempt(attempts_so_far, max_attempts) is expected


@given(st.integers(min_value=1, max_value=50))
def test_exactly_one_last_attempt_before_the_limit(max_attempts: int) -> None:
    flags = [is_last_attempt(n, max_attempts) for n in range(max_attempts)]
    assert flags == [False] * (max_attempts - 1) + [True]


@pytest.mark.parametrize(("attempts_so_far", "max_attempts"), [(0, 1), (2, 3), (7, 8), (9, 8)])
def test_no_retry_on_the_last_attempt(attempts_so_far: int, max_attempts: int) -> None:
    retry = retry_later(attempts_so_far, max_attempts=max_attempts, base_seconds=2.0, reason="x")
    assert retry is None


@pytest.mark.parametrize(
    ("attempts_so_far", "base", "wait"),
    [(0, 2.0, 2.0), (1, 2.0, 4.0), (2, 0.5, 2.0), (3, 2.0, 16.0), (10, 2.0, MAX_WAIT_SECONDS)],
)
def test_a_retry_waits_the_backoff_of_the_attempts_so_far(
    monkeypatch: pytest.MonkeyPatch, attempts_so_far: int, base: float, wait: float
) -> None:
    calls = highest(monkeypatch)
    retry = retry_later(attempts_so_far, max_attempts=20, base_seconds=base, reason="nbn 503")
    assert isinstance(retry, RetryLater)
    assert retry.seconds == wait
    assert calls == [(0, wait)]
    assert str(retry) == f"retry in {wait:.1f} s: nbn 503"


@given(
    attempts_so_far=st.integers(min_value=0, max_value=40),
    base=st.floats(min_value=0.0, max_value=60.0),
)
def test_a_retry_waits_at_least_a_second_and_at_most_the_cap(
    attempts_so_far: int, base: float
) -> None:
    retry = retry_later(attempts_so_far, max_attempts=50, base_seconds=base, reason="x")
    assert retry is not None
    assert 1.0 <= retry.seconds <= MAX_WAIT_SECONDS


@given(st.integers(min_value=1, max_value=30))
def test_every_attempt_but_the_last_is_retried(max_attempts: int) -> None:
    retries = [
        retry_later(n, max_attempts=max_attempts, base_seconds=0.1, reason="x")
        for n in range(max_attempts)
    ]
    assert [r is not None for r in retries] == [True] * (max_attempts - 1) + [False]


def job(attempts: int = 0) -> Job:
    return Job(
        id=1,
        queue="default",
        lock=None,
        queueing_lock=None,
        task_name="services.submit_cancellation",
        attempts=attempts,
    )


@pytest.mark.parametrize(("seconds", "granted"), [(0.2, 1), (1.0, 1), (2.6, 3), (299.4, 299)])
def test_when_asked_retries_after_the_wait_asked_for(seconds: float, granted: int) -> None:
    before = datetime.now(UTC)
    decision = WhenAsked().get_retry_decision(exception=RetryLater(seconds, "x"), job=job(3))
    after = datetime.now(UTC)
    assert decision is not None and decision.retry_at is not None
    wait = timedelta(seconds=granted)
    assert before + wait <= decision.retry_at <= after + wait
    assert (decision.priority, decision.queue, decision.lock) == (None, None, None)


@pytest.mark.parametrize(
    "exception",
    [
        NbnUnavailable("nbn down"),  # a task that does not ask is not retried, even upstream
        RuntimeError("bug"),
        ValueError("bad"),
        KeyboardInterrupt(),
    ],
    ids=type,
)
def test_when_asked_fails_whatever_did_not_ask(exception: BaseException) -> None:
    assert WhenAsked().get_retry_decision(exception=exception, job=job()) is None
