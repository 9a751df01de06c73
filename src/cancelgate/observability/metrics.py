"""Prometheus metrics: what each process counts, and the exposition a scrape answers.

Every metric is defined here, once, with label values drawn from small fixed sets (a route
template, a task name, an outcome): never an id, a raw path or a tenant's name. The code that
does the work calls the small functions below; `/metrics` (the API port) and `cancelgate worker
--metrics-port` answer with `exposition`.

Several processes of one `serve --workers N` share their counts through prometheus-client's
multiprocess mode: `serve` points PROMETHEUS_MULTIPROC_DIR at a clean directory before the
processes start (`multiprocess_directory`), each process writes its values there, and a scrape
of any of them reads every process's. The installation's gauges (the job queue, the webhook
backlog) are not kept by processes at all: a scrape reads them from the database and passes
them in, so one value is reported however many processes there are.

This module imports prometheus-client and nothing of cancelgate.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# prometheus-client's own switch: set, every process writes its values in this directory.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# No `<name>_created` series beside each counter and histogram (multiprocess mode has none
# either, so a scrape looks the same whichever way the process runs).
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client

# OpenTelemetry's advice for http.server.request.duration.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
# Upstream calls and jobs: milliseconds (simulators) to the adapters' timeouts and beyond.
SLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

# Methods beyond these are one label value, as OpenTelemetry's semantic conventions say.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "_OTHER"
# The route of a request that matched none of the application's routes.
UNMATCHED_ROUTE = "unmatched"

# Outcomes of an upstream call.
UPSTREAM_OK = "ok"  # an answer, whatever it says (the nbn's check result, a cancellation)
UPSTREAM_REFUSED = "refused"  # a business refusal (CancelRefused, CsgRefused)
UPSTREAM_UNAVAILABLE = "unavailable"  # unreachable or failing (5xx, a broken answer)
UPSTREAM_TIMEOUT = "timeout"  # no answer in time (the adapter's timeout, or the caller's)
UPSTREAM_ERROR = "error"  # anything else: a bug of ours or an unexpected exception
# Outcomes of a job run.
JOB_SUCCEEDED, JOB_RETRY, JOB_FAILED = "succeeded", "retry", "failed"
# Outcomes of a webhook attempt.
WEBHOOK_OUTCOMES = ("2xx", "4xx", "5xx", "timeout", "refused", "error")

REQUEST_DURATION = Histogram(
    "http_server_request_duration_seconds",
    "Duration of HTTP server requests, until the response is sent.",
    ["http_request_method", "http_route", "http_response_status_code"],
    buckets=HTTP_BUCKETS,
)
UPSTREAM_DURATION = Histogram(
    "cancelgate_upstream_request_duration_seconds",
    "Duration of calls to an upstream (nbn, csg), by operation and outcome.",
    ["upstream", "operation", "outcome"],
    buckets=SLOW_BUCKETS,
)
JOB_DURATION = Histogram(
    "cancelgate_job_duration_seconds",
    "Duration of job runs, by task and outcome (succeeded, retry, failed).",
    ["task", "outcome"],
    buckets=SLOW_BUCKETS,
)
WEBHOOK_ATTEMPTS = Counter(
    "cancelgate_webhook_attempts_total",
    "Webhook delivery attempts, by outcome (2xx, 4xx, 5xx, timeout, refused, error).",
    ["outcome"],
)
IDEMPOTENT_REPLAYS = Counter(
    "cancelgate_idempotent_replays_total",
    "Requests answered with the kept response of an earlier one with the same Idempotency-Key.",
)
RATE_LIMITED = Counter(
    "cancelgate_rate_limited_total",
    "Requests refused by a rate limit (429), by limit family.",
    ["family"],
)

# Each attempt outcome is a series from the start: a rate over it is defined before the first.
_WEBHOOK_ATTEMPTS = {outcome: WEBHOOK_ATTEMPTS.labels(outcome) for outcome in WEBHOOK_OUTCOMES}
# The hot path's histogram children, by (method, route, status): label look-up once each.
_REQUEST_CHILDREN: dict[tuple[str, str, int], Histogram] = {}

# The installation's gauges: read from the database by each scrape (`exposition`'s argument).
JOBS_WAITING = "cancelgate_jobs_waiting"
JOB_OLDEST_WAITING = "cancelgate_job_oldest_waiting_seconds"
WEBHOOK_PENDING = "cancelgate_webhook_pending"
WEBHOOK_OLDEST_PENDING = "cancelgate_webhook_oldest_pending_seconds"


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """One HTTP request served: its method (bounded), route template and status."""
    key = (method if method in HTTP_METHODS else OTHER_METHOD, route, status)
    child = _REQUEST_CHILDREN.get(key)
    if child is None:
        child = _REQUEST_CHILDREN[key] = REQUEST_DURATION.labels(key[0], route, str(status))
    child.observe(seconds)


def observe_upstream(upstream: str, operation: str, outcome: str, seconds: float) -> None:
    """One call to an upstream port."""
    UPSTREAM_DURATION.labels(upstream, operation, outcome).observe(seconds)


def observe_job(task: str, outcome: str, seconds: float) -> None:
    """One run of a job (one attempt)."""
    JOB_DURATION.labels(task, outcome).observe(seconds)


def count_webhook_attempt(outcome: str) -> None:
    """One webhook attempt, by one of WEBHOOK_OUTCOMES."""
    _WEBHOOK_ATTEMPTS[outcome].inc()


def webhook_outcome(status_code: int) -> str:
    """The outcome of an attempt that got an answer: its status class (a 1xx or 3xx, which
    delivers nothing and is not followed, is an `error`)."""
    if 200 <= status_code < 300:
        return "2xx"
    if 400 <= status_code < 500:
        return "4xx"
    if 500 <= status_code < 600:
        return "5xx"
    return "error"


def count_idempotent_replay() -> None:
    """One request answered by replaying the kept response of its Idempotency-Key."""
    IDEMPOTENT_REPLAYS.inc()


def count_rate_limited(family: str) -> None:
    """One request refused by a rate limit of `family` (a small fixed set, never a tenant)."""
    RATE_LIMITED.labels(family).inc()


class _Families:
    """Metric families computed elsewhere, as a collector."""

    def __init__(self, families: Sequence[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _process_metrics() -> Collector:
    """This process's metrics, or every process's in multiprocess mode."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    return registry


def collected() -> Iterable[Metric]:
    """The metric families a scrape reads for this process (every process's, in multiprocess
    mode): what the console's rates are computed from, so that they agree with `/metrics`."""
    return _process_metrics().collect()


def exposition(installation: Sequence[Metric] = ()) -> bytes:
    """The text a scrape answers: the process's (or every process's) metrics, then the
    installation's gauges as read for this scrape."""
    return generate_latest(_process_metrics()) + generate_latest(_Families(installation))


@contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """A clean directory for the processes of one run to share their metrics through: the one
    PROMETHEUS_MULTIPROC_DIR names (emptied of earlier runs' files), else a new temporary one,
    removed at the end."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield path
        return
    path = Path(tempfile.mkdtemp(prefix="cancelgate-metrics-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
