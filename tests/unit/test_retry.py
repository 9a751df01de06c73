"""Backoff with full jitter, and the last-attempt rule."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cancelgate.jobs.retry import MAX_WAIT_SECONDS, backoff_seconds, is_last_attempt


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
    calls: list[tuple[float, float]] = []

    def fake_uniform(low: float, high: float) -> float:
        calls.append((low, high))
        return high

    monkeypatch.setattr("cancelgate.jobs.retry.random.uniform", fake_uniform)
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
