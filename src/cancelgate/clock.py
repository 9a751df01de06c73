"""Time as the business sees it: an injectable clock and the business time zone's calendar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Clock:
    """The current instant, shifted by a fixed offset (zero in production; tests move it)."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        """The current UTC instant on this clock."""
        return datetime.now(UTC) + self.offset

    def to_real(self, instant: datetime) -> datetime:
        """The wall-clock instant at which this clock shows `instant` (for scheduling jobs)."""
        return instant - self.offset


def business_today(now: datetime, zone: ZoneInfo) -> date:
    """The calendar date in the business time zone at instant `now`."""
    return now.astimezone(zone).date()


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """00:00 of `day` in the business time zone, as a UTC instant."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
