"""The injectable clock and the business time zone's calendar, across Sydney midnights and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from cancelgate.clock import Clock, business_today, start_of_day

SYDNEY = ZoneInfo("Australia/Sydney")


def test_default_clock_has_no_offset() -> None:
    assert Clock().offset == timedelta(0)
    before = datetime.now(UTC)
    now = Clock().now()
    after = datetime.now(UTC)
    assert before <= now <= after
    assert now.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "offset", [timedelta(days=3), timedelta(hours=-5), timedelta(days=-400, seconds=7)]
)
def test_now_is_shifted_by_the_offset(offset: timedelta) -> None:
    clock = Clock(offset)
    before = datetime.now(UTC)
    now = clock.now()
    after = datetime.now(UTC)
    assert before + offset <= now <= after + offset
    assert now.tzinfo is not None


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(days=2, hours=1), timedelta(hours=-9)])
def test_to_real_undoes_the_offset(offset: timedelta) -> None:
    clock = Clock(offset)
    instant = datetime(2026, 11, 22, 0, 0, tzinfo=SYDNEY)
    assert clock.to_real(instant) == instant - offset
    assert clock.to_real(instant) + offset == instant


def test_to_real_of_clock_now_is_about_the_real_now() -> None:
    clock = Clock(timedelta(days=10))
    before = datetime.now(UTC)
    real = clock.to_real(clock.now())
    after = datetime.now(UTC)
    assert before <= real <= after


def test_clock_is_frozen() -> None:
    clock = Clock(timedelta(hours=1))
    with pytest.raises(AttributeError):
        clock.offset = timedelta(0)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        (datetime(2026, 11, 21, 12, 59, 59, tzinfo=UTC), date(2026, 11, 21)),
        (datetime(2026, 11, 21, 13, 0, tzinfo=UTC), date(2026, 11, 22)),
        (datetime(2026, 6, 1, 13, 59, 59, tzinfo=UTC), date(2026, 6, 1)),
        (datetime(2026, 6, 1, 14, 0, tzinfo=UTC), date(2026, 6, 2)),
        (datetime(2026, 10, 3, 13, 59, 59, tzinfo=UTC), date(2026, 10, 3)),
        (datetime(2026, 10, 3, 14, 0, tzinfo=UTC), date(2026, 10, 4)),
        (datetime(2026, 10, 4, 12, 59, 59, tzinfo=UTC), date(2026, 10, 4)),
        (datetime(2026, 10, 4, 13, 0, tzinfo=UTC), date(2026, 10, 5)),
        (datetime(2026, 4, 4, 12, 59, 59, tzinfo=UTC), date(2026, 4, 4)),
        (datetime(2026, 4, 4, 13, 0, tzinfo=UTC), date(2026, 4, 5)),
        (datetime(2026, 4, 5, 13, 59, 59, tzinfo=UTC), date(2026, 4, 5)),
        (datetime(2026, 4, 5, 14, 0, tzinfo=UTC), date(2026, 4, 6)),
    ],
)
def test_business_today_around_sydney_midnight(instant: datetime, expected: date) -> None:
    assert business_today(instant, SYDNEY) == expected


def test_business_today_ignores_the_zone_of_the_instant() -> None:
    utc_instant = datetime(2026, 11, 21, 13, 30, tzinfo=UTC)
    los_angeles = utc_instant.astimezone(ZoneInfo("America/Los_Angeles"))
    fixed = utc_instant.astimezone(timezone(timedelta(hours=-3)))
    assert los_angeles.date() == date(2026, 11, 21)
    assert business_today(los_angeles, SYDNEY) == date(2026, 11, 22)
    assert business_today(fixed, SYDNEY) == date(2026, 11, 22)


def test_business_today_in_utc() -> None:
    assert business_today(datetime(2026, 11, 21, 23, 59, tzinfo=UTC), ZoneInfo("UTC")) == date(
        2026, 11, 21
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 22), datetime(2026, 11, 21, 13, 0, tzinfo=UTC)),
        (date(2026, 6, 1), datetime(2026, 5, 31, 14, 0, tzinfo=UTC)),
        (date(2026, 10, 4), datetime(2026, 10, 3, 14, 0, tzinfo=UTC)),
        (date(2026, 10, 5), datetime(2026, 10, 4, 13, 0, tzinfo=UTC)),
        (date(2026, 4, 5), datetime(2026, 4, 4, 13, 0, tzinfo=UTC)),
        (date(2026, 4, 6), datetime(2026, 4, 5, 14, 0, tzinfo=UTC)),
    ],
)
def test_start_of_day_is_the_utc_instant_of_local_midnight(day: date, expected: datetime) -> None:
    start = start_of_day(day, SYDNEY)
    assert start == expected
    assert start.tzinfo is UTC
    assert (start.year, start.month, start.day, start.hour, start.minute) == (
        expected.year,
        expected.month,
        expected.day,
        expected.hour,
        expected.minute,
    )


def test_start_of_day_example_in_aedt() -> None:
    start = start_of_day(date(2026, 11, 22), SYDNEY)
    assert start.isoformat() == "2026-11-21T13:00:00+00:00"
    local = start.astimezone(SYDNEY)
    assert local.utcoffset() == timedelta(hours=11)
    assert (local.date(), local.hour, local.minute) == (date(2026, 11, 22), 0, 0)


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 10, 4), 23), (date(2026, 4, 5), 25), (date(2026, 6, 1), 24)],
)
def test_length_of_business_days_across_dst(day: date, hours: int) -> None:
    length = start_of_day(day + timedelta(days=1), SYDNEY) - start_of_day(day, SYDNEY)
    assert length == timedelta(hours=hours)


@pytest.mark.parametrize("day", [date(2026, 4, 5), date(2026, 10, 4), date(2026, 11, 22)])
def test_start_of_day_is_business_today(day: date) -> None:
    start = start_of_day(day, SYDNEY)
    assert business_today(start, SYDNEY) == day
    assert business_today(start - timedelta(microseconds=1), SYDNEY) == day - timedelta(days=1)
