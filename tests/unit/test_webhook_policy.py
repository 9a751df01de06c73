"""Webhook delivery rules: what counts as delivered, retry waits, Retry-After, disabling."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from cancelgate.webhooks.policy import (
    MAX_RETRY_AFTER_SECONDS,
    Verdict,
    next_wait,
    parse_schedule,
    retry_after_seconds,
    should_disable,
    verdict,
)
from cancelgate_client.polling import parse_retry_after

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SCHEDULE = [5.0, 300.0, 1800.0]


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, Verdict.DELIVERED), (204, Verdict.DELIVERED), (299, Verdict.DELIVERED),
     (410, Verdict.GONE), (301, Verdict.RETRY), (400, Verdict.RETRY), (429, Verdict.RETRY),
     (500, Verdict.RETRY), (None, Verdict.RETRY)],
)  # fmt: skip
def test_only_2xx_delivers_and_410_is_gone(status: int | None, expected: Verdict) -> None:
    assert verdict(status) == expected


def test_parse_schedule() -> None:
    assert parse_schedule("5,300, 1800") == SCHEDULE
    assert parse_schedule("0.3,") == [0.3]


def test_waits_follow_the_schedule_with_full_jitter_then_give_up() -> None:
    rng = random.Random(7)
    for attempt, base in enumerate(SCHEDULE, start=1):
        waits = [next_wait(SCHEDULE, attempt, None, rng) for _ in range(200)]
        assert all(w is not None and 0 <= w <= base for w in waits)
        assert max(w for w in waits if w is not None) > base / 2
    assert next_wait(SCHEDULE, len(SCHEDULE) + 1, None, rng) is None


def test_a_requested_wait_is_honoured() -> None:
    assert next_wait(SCHEDULE, 1, 60.0, random.Random(1)) == 60.0


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [(429, "120", 120.0), (503, "7", 7.0), (500, "120", None), (429, None, None),
     (429, "soon", None), (429, "²", None), (503, "99999999", MAX_RETRY_AFTER_SECONDS),
     (429, "Sat, 21 Nov 2026 12:01:00 GMT", 60.0), (429, "Sat, 21 Nov 2026 11:00:00 GMT", 0.0)],
)  # fmt: skip
def test_retry_after(status: int, header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(status, header, NOW) == expected


def test_disable_after_a_long_unbroken_failure() -> None:
    five_days = 5 * 24 * 3600.0
    assert not should_disable(None, NOW, five_days)
    assert not should_disable(NOW - timedelta(days=4, hours=23), NOW, five_days)
    assert should_disable(NOW - timedelta(days=5), NOW, five_days)


@pytest.mark.parametrize(
    "header",
    [
        "Sat, 21 Nov 2026 12:01:00 GMT",
        # "-0000" is UTC (RFC 5322 §3.3) and parses to a naive datetime: still 60 s.
        "Sat, 21 Nov 2026 12:01:00 -0000",
        "60",
    ],
)
def test_webhooks_and_the_client_read_retry_after_alike(header: str) -> None:
    assert retry_after_seconds(503, header, NOW) == parse_retry_after(header, NOW) == 60.0
