"""The overview's rates over the last hour, from the counts `/metrics` exposes.

The request histogram's and the upstream histogram's `_count` series are totals since the
process started (since `serve` started, across its processes, in multiprocess mode). A
sampler reads them once a minute into a ring of RING_SIZE readings; a rate is the difference
of two readings over the time between them. Nothing here counts a request a second way: a
reading is what a scrape would answer, summed by API family and status class.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from prometheus_client import Histogram
from prometheus_client.metrics_core import Metric

from cancelgate.observability import metrics

log = structlog.get_logger(__name__)

SAMPLE_SECONDS = 60.0
# 61 readings a minute apart: the 60 one-minute intervals of an hour.
RING_SIZE = 61
HOUR_SECONDS = 3600.0

# API families by route template prefix, first match wins (sandbox before the UX API's own).
FAMILY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("/api/connect/orders/appointment-cancellations", "connect-appointments"),
    ("/api/connect/services", "connect-services"),
    ("/api/connect/webhooks", "connect-webhooks"),
    ("/api/connect/sandbox", "sandbox"),
    ("/ecom-ux/v1/{business_id}/sandbox", "sandbox"),
    ("/ecom-ux", "ux"),
    ("/oauth", "oauth"),
    ("/.well-known", "oauth"),
    ("/console", "console"),
)
FAMILY_LABELS = {
    "connect-appointments": "Connect: appointment cancellations",
    "connect-services": "Connect: service cancellations",
    "connect-webhooks": "Connect: webhooks and events",
    "sandbox": "Sandbox",
    "ux": "UX API",
    "oauth": "OAuth",
    "console": "Console",
    "other": "Other (health, metrics, docs)",
    metrics.UNMATCHED_ROUTE: "Unmatched paths",
}
# The API families first, in this order; any other after them.
FAMILY_ORDER = tuple(FAMILY_LABELS)
# Always shown as columns, whether or not any request had one.
STATUS_CLASSES = ("2xx", "4xx", "5xx")
# Upstream outcomes that are errors: no usable answer (a refusal is a business answer).
UPSTREAM_ERRORS = frozenset(
    {metrics.UPSTREAM_UNAVAILABLE, metrics.UPSTREAM_TIMEOUT, metrics.UPSTREAM_ERROR}
)


def _count_series(histogram: Histogram) -> str:
    """The name of a histogram's count series (one per observation)."""
    [family] = histogram.describe()
    return family.name + "_count"


REQUESTS_COUNT = _count_series(metrics.REQUEST_DURATION)
UPSTREAM_COUNT = _count_series(metrics.UPSTREAM_DURATION)


def family_of(route: str) -> str:
    """The API family of a route template (`other` for health, metrics and docs)."""
    if route == metrics.UNMATCHED_ROUTE:
        return metrics.UNMATCHED_ROUTE
    for prefix, family in FAMILY_PREFIXES:
        if route == prefix or route.startswith(prefix + "/"):
            return family
    return "other"


def status_class(status: str) -> str:
    """`404` → `4xx`."""
    return f"{status[:1]}xx" if status[:1].isdigit() else "other"


Counts = dict[tuple[str, str], float]


@dataclass(frozen=True)
class Reading:
    """The totals at one instant: requests by (family, status class), upstream calls by
    (upstream, outcome)."""

    at: datetime
    requests: Mapping[tuple[str, str], float]
    upstream: Mapping[tuple[str, str], float]


def reading_of(families: Iterable[Metric], at: datetime) -> Reading:
    """The request and upstream totals in these metric families (a scrape's), summed."""
    requests: Counts = {}
    upstream: Counts = {}
    for family in families:
        for sample in family.samples:
            if sample.name == REQUESTS_COUNT:
                labels = sample.labels
                key = (
                    family_of(labels["http_route"]),
                    status_class(labels["http_response_status_code"]),
                )
                requests[key] = requests.get(key, 0.0) + sample.value
            elif sample.name == UPSTREAM_COUNT:
                key = (sample.labels["upstream"], sample.labels["outcome"])
                upstream[key] = upstream.get(key, 0.0) + sample.value
    return Reading(at, requests, upstream)


def current_reading() -> Reading:
    """This process's (or every process's) totals now, as `/metrics` would report them."""
    return reading_of(metrics.collected(), datetime.now(UTC))


def _differences(
    older: Mapping[tuple[str, str], float], newer: Mapping[tuple[str, str], float]
) -> dict[tuple[str, str], int]:
    # A total that went down was reset (a process restarted): count from zero, as Prometheus'
    # increase() does.
    found = {}
    for key, value in newer.items():
        before = older.get(key, 0.0)
        grown = value - before if value >= before else value
        if grown > 0:
            found[key] = round(grown)
    return found


@dataclass(frozen=True)
class Window:
    """What happened between two readings."""

    start: datetime
    end: datetime
    requests: dict[tuple[str, str], int]
    upstream: dict[tuple[str, str], int]

    @property
    def minutes(self) -> float:
        """The window's length in minutes."""
        return max(0.0, (self.end - self.start).total_seconds() / 60.0)

    def requests_in(self, status: str | None = None) -> int:
        """Requests of every family (of one status class, if given)."""
        return sum(n for (_, cls), n in self.requests.items() if status in (None, cls))

    def upstream_calls(self) -> int:
        """Calls to every upstream."""
        return sum(self.upstream.values())

    def upstream_errors(self) -> int:
        """Calls to every upstream that ended in an error."""
        return sum(n for (_, outcome), n in self.upstream.items() if outcome in UPSTREAM_ERRORS)


def window(older: Reading, newer: Reading) -> Window:
    """The requests and upstream calls between two readings (the newer one's totals less the
    older one's; a total that went down counts from zero)."""
    return Window(
        older.at,
        newer.at,
        _differences(older.requests, newer.requests),
        _differences(older.upstream, newer.upstream),
    )


def per_minute(count: int, minutes: float) -> float | None:
    """A count as a rate per minute; None over a window too short to say."""
    if minutes < 1 / 60:
        return None
    return count / minutes


def ratio(part: int, whole: int) -> float | None:
    """part / whole, None when whole is 0 (no rate of nothing)."""
    return part / whole if whole else None


@dataclass(frozen=True)
class FamilyRow:
    """One API family's requests in a window, by status class."""

    family: str
    label: str
    by_class: dict[str, int]
    total: int
    per_minute: float | None


def family_rows(win: Window) -> tuple[list[str], list[FamilyRow]]:
    """The status classes to show (2xx, 4xx, 5xx and any other seen) and a row per family that
    had requests, in FAMILY_ORDER."""
    classes = sorted(set(STATUS_CLASSES) | {cls for _, cls in win.requests})
    families = {family for family, _ in win.requests}
    order = [f for f in FAMILY_ORDER if f in families] + sorted(families - set(FAMILY_ORDER))
    rows = []
    for family in order:
        by_class = {cls: win.requests.get((family, cls), 0) for cls in classes}
        total = sum(by_class.values())
        rows.append(
            FamilyRow(
                family,
                FAMILY_LABELS.get(family, family),
                by_class,
                total,
                per_minute(total, win.minutes),
            )
        )
    return classes, rows


@dataclass(frozen=True)
class UpstreamRow:
    """One upstream's calls in a window and how many ended in an error."""

    upstream: str
    calls: int
    refused: int
    errors: int
    error_rate: float | None


def upstream_rows(win: Window) -> list[UpstreamRow]:
    """A row per upstream called in the window."""
    rows = []
    for upstream in sorted({name for name, _ in win.upstream}):
        mine = {outcome: n for (name, outcome), n in win.upstream.items() if name == upstream}
        calls = sum(mine.values())
        errors = sum(n for outcome, n in mine.items() if outcome in UPSTREAM_ERRORS)
        refused = mine.get(metrics.UPSTREAM_REFUSED, 0)
        rows.append(UpstreamRow(upstream, calls, refused, errors, ratio(errors, calls)))
    return rows


def minutes_of(readings: list[Reading]) -> list[Window]:
    """The window between each two successive readings, newest first."""
    return [window(a, b) for a, b in itertools.pairwise(readings)][::-1]


def history_note(start: datetime, end: datetime) -> str:
    """What a window covers, honestly: `the last hour`, or `since 22:41 UTC (18 min)` while the
    readings do not reach an hour back yet."""
    seconds = (end - start).total_seconds()
    if seconds >= HOUR_SECONDS - SAMPLE_SECONDS / 2:
        return f"the last hour (since {start:%H:%M} UTC)"
    return f"since {start:%H:%M} UTC ({int(seconds // 60)} min)"


class RateHistory:
    """The readings of the last hour, one a minute, in a bounded ring; `start` takes the first
    at once and samples every `every` seconds until `stop`."""

    def __init__(
        self,
        read: Callable[[], Reading] = current_reading,
        *,
        size: int = RING_SIZE,
        every: float = SAMPLE_SECONDS,
        wait: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._read = read
        self._ring: deque[Reading] = deque(maxlen=size)
        self._every = every
        self._wait = wait
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> Reading:
        """Read the totals now and keep the reading (the oldest goes once the ring is full)."""
        reading = self._read()
        self._ring.append(reading)
        return reading

    def readings(self) -> list[Reading]:
        """The kept readings, oldest first."""
        return list(self._ring)

    @property
    def running(self) -> bool:
        """Whether the sampler is running."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Take the first reading now and sample every minute from here on."""
        self.sample()
        self._task = asyncio.create_task(self._run(), name="console-rate-sampler")

    async def stop(self) -> None:
        """Stop sampling (waits for the sampler to end)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        # Against a monotonic schedule: a slow reading does not push every later one back.
        due = time.monotonic()
        while True:
            due += self._every
            await self._wait(max(0.0, due - time.monotonic()))
            try:
                # Off the event loop: a reading walks every series (tens of ms with hundreds
                # of them, more in multiprocess mode, which parses every process's file).
                await asyncio.to_thread(self.sample)
            except Exception as exc:  # a missed minute, not a dead sampler
                log.warning("console_rate_sample_failed", error=f"{type(exc).__name__}: {exc}")
