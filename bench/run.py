"""`make bench`: every measure of the suite in one run, written to bench/results/<date>.json.

Processes run on 127.0.0.1; the server under test is pinned to CPU 0, the load generator (and
the embedded PostgreSQL, when it is ours) to CPU 1. Each request figure of ours stands beside two
references served the same way: the ceiling (a minimal FastAPI app answering a constant body)
and the floor (the same app answering with one prepared primary-key read on the server's pool:
what one database round trip a request can reach). The JSON is rewritten after each measure, and
a measure that fails records why under its key; the run goes on to the next one.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from tests.support import (
    Process,
    create_database,
    drop_database,
    free_port,
    token_for,
    wait_for_http,
)

from bench import floor
from bench.seed import Seeder, Tenant
from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.db.embedded import release_embedded, start_embedded
from cancelgate.db.urls import libpq_url
from cancelgate.migrate import upgrade
from cancelgate.upstream.csg.scenarios import SEED_BILLING_ACCOUNT
from cancelgate.upstream.nbn.scenarios import BOOKED_SLOW

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "lua"
RESULTS = ROOT / "bench" / "results"
SERVER_CPU = "0"
LOAD_CPU = "1"
STOP_SECONDS = 30  # a server or worker finishing what it holds after SIGTERM
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 64
# A status GET's latency is also measured in a short run at a few connections: at CONNECTIONS a
# closed loop's latency is only CONNECTIONS / throughput.
FEW_CONNECTIONS, FEW_SECONDS = 8, 5
# The floor's table: one row per id; the GET reads one of them again and again, as ours do.
FLOOR_ROWS = 100_000
FLOOR_ID = FLOOR_ROWS // 2
APPOINTMENTS = "/api/connect/orders/appointment-cancellations"
SERVICE_CANCELLATIONS = "/api/connect/services/service-cancellations"
SMALL, LARGE = 10_000, 1_000_000
E2E_RATE, E2E_SECONDS = 100, 10
# Also measured at a rate this machine sustains, to show the latency of an unsaturated system.
E2E_LIGHT_RATE = 20
# The long-poll variant (at E2E_RATE) asks each GET to be held this long (`Prefer: wait=N`), and
# gives up on a request after LONG_POLL_GETS GETs or wait + LONG_POLL_GRACE seconds.
LONG_POLL_WAIT, LONG_POLL_GETS, LONG_POLL_GRACE = 30, 5, 10
# httpx keeps an idle connection 5 s by default: as long as uvicorn's timeout_keep_alive (5 s,
# which `cancelgate serve` keeps), on a clock that starts later (once the client has read the
# response). A connection taken from the pool near 5 s idle is closed by the server before the
# request lands when the load generator is slow to send it (RemoteProtocolError or ReadError).
# At 2 s the server's close is 3 s away from any reuse.
KEEPALIVE_SECONDS = 2.0
# How a request fails when its connection closed before the answer: worth one more try if the
# request is idempotent.
CLOSED_BEFORE_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
QUEUED = 10_000
# What every server and worker of the suite runs with, beside its database and data dir.
# Rate limits off: the load generator is one client far past any quota (README, Operating).
SERVER_ENV = {
    "CANCELGATE_LOG_LEVEL": "WARNING",
    "CANCELGATE_SANDBOX": "false",
    "CANCELGATE_RATE_LIMITS": "false",
}
UX_BODY = {
    "status": "cancelled",
    "relatedEntity": [
        {"@referredType": "CancellationReason", "id": "CR", "role": "cancellationReason"},
        {"id": SEED_BILLING_ACCOUNT, "role": "Customer Account", "@referredType": "BillingAccount"},
    ],
    "validFor": {"endDateTime": "2026-03-05T12:00:00.000-04:00"},
    "characteristics": [{"name": "orderClass", "value": "S"}],
}
# The measures, in the order they are taken; each is a key of the JSON.
GET_MEASURES = (
    "get_appointment_request",
    "get_appointment_request_in_progress",
    "get_service_cancellation",
)
# The finished GET again, on a server of its own with CANCELGATE_METRICS=false: what the metrics
# cost the hot path (its `metrics_cost`: 1 - req/s with them / req/s without).
NO_METRICS_MEASURE = "get_appointment_request_no_metrics"
RATIO_MEASURES = (
    *GET_MEASURES, NO_METRICS_MEASURE, "post_appointment_cancellation", "patch_ux_cancel",
)  # fmt: skip
# The console's request list over the LARGE appointments' cancellations (after growth).
CONSOLE_MEASURE = "console_requests_page"
SERVER_MEASURES = (*RATIO_MEASURES, "growth", CONSOLE_MEASURE, "memory")
E2E_MEASURES = ("end_to_end_light", "end_to_end", "end_to_end_long_poll")
MEASURES = ("ceiling", "floor", *SERVER_MEASURES, *E2E_MEASURES, "worker_throughput")


@dataclass
class Load:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non2xx: int


@dataclass(frozen=True)
class Fixtures:
    """What the measures work on, seeded before the first of them."""

    tenant: Tenant
    cancellation_id: int
    # A booked-slow appointment: its cancellation, requested by the in-progress measure of a
    # server without a worker, stays in progress.
    slow_appointment_id: int
    fresh_post: list[int]
    e2e_ids: list[int]
    service_id: int
    channel: dict[str, str]
    ux_ids: list[str]


def log(message: str) -> None:
    """A progress line on stderr."""
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def describe(exc: BaseException) -> str:
    """An exception in one line; a TaskGroup's by its first sub-exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


class Results:
    """The run's figures by measure, rewritten to its JSON file as each measure is taken."""

    def __init__(self, path: Path, about: dict[str, Any]) -> None:
        self.path = path
        self.about = about
        self.figures: dict[str, dict[str, Any]] = {}

    def write(self) -> None:
        """Replace the file in one step, so a crash mid-write leaves the previous version."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_text(json.dumps({**self.figures, **self.about}, indent=2) + "\n")
        os.replace(partial, self.path)

    def record(self, name: str, figures: dict[str, Any]) -> None:
        """One measure's figures, written at once."""
        self.figures[name] = figures
        self.write()

    def fail(self, names: tuple[str, ...], exc: BaseException) -> None:
        """Record exc as the reason for each of names not measured yet."""
        reason = describe(exc)
        log(f"failed: {reason}")
        traceback.print_exception(exc, file=sys.stderr)
        for name in names:
            self.figures.setdefault(name, {"error": reason})
        self.write()

    def take(self, name: str, measure: Callable[[], dict[str, Any]]) -> None:
        """Run one measure and record its figures, or why it failed; the run goes on."""
        log(name)
        try:
            figures = measure()
        except Exception as exc:
            self.fail((name,), exc)
        else:
            self.record(name, figures)

    async def take_async(self, name: str, measure: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """`take` for a measure that awaits."""
        log(name)
        try:
            figures = await measure()
        except Exception as exc:
            self.fail((name,), exc)
        else:
            self.record(name, figures)


def pinned(cpu: str, args: list[str], env: dict[str, str], log_file: Path) -> Process:
    """Start a process on one CPU."""
    handle = log_file.open("wb")
    proc = subprocess.Popen(
        ["taskset", "-c", cpu, *args], env={**os.environ, **env}, stdout=handle,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return Process(proc, log_file)


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def wrk(
    base: str,
    script: str,
    env: dict[str, str],
    *,
    connections: int = CONNECTIONS,
    seconds: int = SECONDS,
) -> Load:
    """One wrk run from the load CPU; its Lua script prints the figures as JSON."""
    args = [
        "taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
        "--timeout", "5s", "-s", str(LUA / script), base,
    ]  # fmt: skip
    out = subprocess.run(
        args,
        env={**os.environ, "BENCH_LUA": str(LUA), **env},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk said: {out.stdout}\n{out.stderr}")
    data = json.loads(line[len("BENCH ") :])
    return Load(
        rps=round(data["requests"] / (data["duration_us"] / 1e6), 1),
        p50_ms=round(data["p50_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        requests=data["requests"],
        errors=data["errors"],
        non2xx=data["non2xx"],
    )


def header_env(headers: dict[str, str]) -> str:
    """Headers as report.lua reads them from BENCH_HEADERS."""
    return "|".join(f"{k}:{v}" for k, v in headers.items())


def fresh_file(target: Path, lines: list[tuple[str, str]]) -> str:
    """The file fresh.lua reads: one `path<TAB>body` line per request."""
    target.write_text("".join(f"{path}\t{body}\n" for path, body in lines))
    return str(target)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "pinning": {"server": SERVER_CPU, "load_generator": LOAD_CPU},
    }


def database() -> tuple[str, str]:
    """A fresh, migrated database: on DATABASE_URL's server, else on an embedded one (ours,
    so it is pinned to the load CPU). Returns (url, where)."""
    server = os.environ.get("DATABASE_URL")
    where = "DATABASE_URL (unpinned)"
    if not server:
        data_dir = ROOT / "var" / "bench"
        server = start_embedded(data_dir)
        postmaster = int((data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])
        subprocess.run(["taskset", "-a", "-p", "-c", LOAD_CPU, str(postmaster)], check=True,
                       capture_output=True)  # fmt: skip
        where = f"embedded, pinned to CPU {LOAD_CPU}"
    url = create_database(server, prefix="cancelgate_bench")
    upgrade(url)
    return url, where


@dataclass(frozen=True)
class References:
    """The req/s of the ceiling and the floor, each None if it was not measured."""

    ceiling_rps: float | None
    floor_rps: float | None

    @classmethod
    def of(cls, results: Results) -> References:
        """The references as this run measured them."""
        return cls(
            results.figures.get("ceiling", {}).get("rps"),
            results.figures.get("floor", {}).get("rps"),
        )


def ratio(ours: Load, references: References) -> dict[str, Any]:
    """A wrk run's figures beside the ceiling's and the floor's req/s (a ratio is None if its
    reference was not measured)."""
    ceiling_rps, floor_rps = references.ceiling_rps, references.floor_rps
    return {
        "rps": ours.rps,
        "p50_ms": ours.p50_ms,
        "p99_ms": ours.p99_ms,
        "ceiling_rps": ceiling_rps,
        "ratio": round(ours.rps / ceiling_rps, 3) if ceiling_rps else None,
        "floor_rps": floor_rps,
        "floor_ratio": round(ours.rps / floor_rps, 3) if floor_rps else None,
        "requests": ours.requests,
        "non2xx": ours.non2xx + ours.errors,
    }


def few_connections(base: str, script: str, env: dict[str, str]) -> dict[str, Any]:
    """A short second run at FEW_CONNECTIONS: latency not dominated by the closed loop's queue."""
    few = wrk(base, script, env, connections=FEW_CONNECTIONS, seconds=FEW_SECONDS)
    return {
        "rps_8": few.rps,
        "p50_ms_8": few.p50_ms,
        "p99_ms_8": few.p99_ms,
        "non2xx_8": few.non2xx + few.errors,
    }


def status_get(base: str, env: dict[str, str], references: References) -> dict[str, Any]:
    """A GET measure: the wrk run at CONNECTIONS beside the references, then the short run at
    FEW_CONNECTIONS. A run whose answers were errors measured nothing: it raises."""
    figures = {
        **ratio(wrk(base, "get.lua", env), references),
        **few_connections(base, "get.lua", env),
    }
    if figures.get("non2xx") or figures.get("non2xx_8"):
        raise RuntimeError(f"the GETs were refused: {figures}")
    return figures


def status_of(base: str, path: str, headers: dict[str, str]) -> int:
    """The status a GET of path answers now."""
    return httpx.get(base + path, headers=headers, timeout=30).status_code


def requested_in_progress(base: str, headers: dict[str, str], appointment_id: int) -> str:
    """Request the cancellation of a booked-slow appointment of a server without a worker (its
    job never runs): the path of its outcome, checked to answer 202."""
    posted = httpx.post(
        base + f"{APPOINTMENTS}/request",
        json={"appointmentId": appointment_id},
        headers=headers,
        timeout=30,
    )
    location = posted.headers.get("location")
    if posted.status_code != 201 or location is None:
        raise RuntimeError(f"POST answered {posted.status_code}: {posted.text[:300]}")
    status = status_of(base, location, headers)
    if status != 202:
        raise RuntimeError(f"GET {location} answered {status}, not 202")
    return str(location)


def in_progress_get(
    base: str, headers: dict[str, str], appointment_id: int, references: References
) -> dict[str, Any]:
    """The appointment-cancellation GET of a request that stays in progress, checked 202 before
    the runs and after them (`still_in_progress`)."""
    v8 = {**headers, "X-API-VERSION": "8"}
    location = requested_in_progress(base, v8, appointment_id)
    env = {"BENCH_PATH": location, "BENCH_HEADERS": header_env(v8)}
    figures = status_get(base, env, references)
    after = status_of(base, location, v8)
    if after != 202:
        log(f"warning: GET {location} answered {after} after the run, not 202")
    return {**figures, "still_in_progress": after == 202}


async def end_to_end(
    base: str, headers: dict[str, str], ids: list[int], rate: int = E2E_RATE, *, wait: int = 0
) -> dict[str, Any]:
    """Open loop: a POST every 1/rate s, each polled until 200 (5 ms, doubling to 100 ms, as a
    client keen on latency would); the time from POST to the 200. A request that fails (status
    or transport error) is counted under `failed`; each ends within its 10 s of polling.

    With `wait`, long polling instead: the outcome is fetched right after the POST with
    `Prefer: wait=<wait>`, and again only if a 202 comes back (at once if the server held it,
    after its Retry-After if not); a request ends within LONG_POLL_GETS GETs and wait +
    LONG_POLL_GRACE seconds. `gets_per_request` counts every GET sent (retries included)."""
    durations: list[float] = []
    posts: list[float] = []  # the POSTs' own latencies (to their 201), apart
    failures: dict[str, int] = {}
    retried = 0
    gets = 0
    applied = 0  # answers that carried Preference-Applied
    get_headers = {**headers, "Prefer": f"wait={wait}"} if wait else headers

    def failed(reason: str) -> None:
        failures[reason] = failures.get(reason, 0) + 1

    async def poll(client: httpx.AsyncClient, location: str) -> httpx.Response:
        nonlocal retried, gets, applied
        gets += 1
        try:
            answer = await client.get(location, headers=get_headers)
        except CLOSED_BEFORE_ANSWER:
            # A GET is idempotent: sending it again cannot change what it reads.
            retried += 1
            gets += 1
            answer = await client.get(location, headers=get_headers)
        if "preference-applied" in answer.headers:
            applied += 1
        return answer

    async def one(client: httpx.AsyncClient, appointment_id: int) -> None:
        started = time.perf_counter()
        try:
            # Never retried: the server may have taken the first one, and without an
            # Idempotency-Key a second POST is a second request.
            posted = await client.post(
                f"{APPOINTMENTS}/request", json={"appointmentId": appointment_id}, headers=headers
            )
        except httpx.TransportError as exc:
            failed(f"POST {type(exc).__name__}")
            return
        if posted.status_code != 201:
            failed(f"POST {posted.status_code}")
            return
        posts.append(time.perf_counter() - started)
        location = posted.headers.get("location")
        if location is None:
            failed("POST 201 without Location")
            return
        if wait:
            await long_poll(client, started, location)
            return
        deadline = started + 10
        pause = 0.005
        while time.perf_counter() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            try:
                answer = await poll(client, location)
            except httpx.TransportError as exc:
                failed(f"GET {type(exc).__name__}")
                return
            if answer.status_code == 200:
                durations.append(time.perf_counter() - started)
                return
            if answer.status_code != 202:
                failed(f"GET {answer.status_code}")
                return
        failed("still 202 after 10 s")

    async def long_poll(client: httpx.AsyncClient, started: float, location: str) -> None:
        deadline = started + wait + LONG_POLL_GRACE
        for _ in range(LONG_POLL_GETS):
            if time.perf_counter() >= deadline:
                break
            try:
                answer = await poll(client, location)
            except httpx.TransportError as exc:
                failed(f"GET {type(exc).__name__}")
                return
            if answer.status_code == 200:
                durations.append(time.perf_counter() - started)
                return
            if answer.status_code != 202:
                failed(f"GET {answer.status_code}")
                return
            if "preference-applied" not in answer.headers:
                # Not held (the server holds as many as it may): ask again when it says.
                after = answer.headers.get("retry-after", "1")
                await asyncio.sleep(min(float(after) if after.isdigit() else 1.0, 5.0))
        failed(f"still 202 after {LONG_POLL_GETS} GETs or {wait + LONG_POLL_GRACE} s")

    scheduled = ids[: rate * E2E_SECONDS]
    # Long polls hold their connections: one each, so none waits for the client's pool.
    connections = len(scheduled) + 10 if wait else 200
    limits = httpx.Limits(
        max_connections=connections,
        max_keepalive_connections=connections,
        keepalive_expiry=KEEPALIVE_SECONDS,
    )
    timeout = wait + LONG_POLL_GRACE if wait else 10
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        start = time.perf_counter()
        # A task group: if one request raises something unexpected, the others are cancelled
        # rather than left running against a closed client.
        async with asyncio.TaskGroup() as requests:
            for n, appointment_id in enumerate(scheduled):
                # Open loop: each request starts on schedule, whatever the earlier ones are doing.
                await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                requests.create_task(one(client, appointment_id))
    if len(durations) < 2:
        raise RuntimeError(f"end to end: almost nothing completed: {failures}")
    figures: dict[str, Any] = {
        "rate_rps": rate,
        "p50_ms": quantile_ms(durations, 50),
        "p99_ms": quantile_ms(durations, 99),
        "post_p50_ms": quantile_ms(posts, 50),
        "post_p99_ms": quantile_ms(posts, 99),
        "requests": len(scheduled),
        "completed": len(durations),
        "failures": sum(failures.values()),
        "failed": failures,
        "gets": gets,
        "gets_per_request": round(gets / len(durations), 2),
        "get_retries": retried,
    }
    if wait:
        figures |= {"wait_s": wait, "preference_applied": applied}
    return figures


def quantile_ms(seconds: list[float], percent: int) -> float:
    """The percent-th percentile of at least two durations, in ms."""
    return round(statistics.quantiles(seconds, n=100)[percent - 1] * 1000, 1)


def queue_cancellations(url: str, tenant: Tenant, batch: str) -> None:
    """IN_PROGRESS cancellations with their submission jobs, as the API leaves them."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            """
            INSERT INTO appointment_cancellations (tenant_id, appointment_id, client_id, status,
                request_key, requested_on)
            SELECT tenant_id, id, %s, 'IN_PROGRESS', gen_random_uuid(), now()
            FROM appointments WHERE customer_ref = %s
            """,
            (tenant.client_pk, batch),
        )
        conn.execute(
            """
            INSERT INTO procrastinate_jobs (queue_name, task_name, args, status)
            SELECT 'default', %s,
                jsonb_build_object('cancellation_id', c.id), 'todo'
            FROM appointment_cancellations c JOIN appointments a ON a.id = c.appointment_id
            WHERE a.customer_ref = %s
            """,
            (SUBMIT_TASK, batch),
        )


def drop_backlog(url: str) -> int:
    """Cancel the jobs earlier measures queued (the POST run leaves thousands): the end-to-end
    and worker measures must not wait behind them."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        cursor = conn.execute(
            "UPDATE procrastinate_jobs SET status = 'cancelled' WHERE status = 'todo'"
        )
        return cursor.rowcount


def worker_throughput(url: str, batch: str, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """One worker process against QUEUED ready jobs: completions per second, from the first
    completion to the last (the worker's start-up is not throughput)."""
    worker = pinned(SERVER_CPU, [str(BIN / "cancelgate"), "worker", "--concurrency", "20"], env,
                    logs / "worker.log")  # fmt: skip
    query = (
        "SELECT count(*), extract(epoch FROM max(c.cancelled_on) - min(c.cancelled_on)) "
        "FROM appointment_cancellations c JOIN appointments a ON a.id = c.appointment_id "
        "WHERE a.customer_ref = %s AND c.status = 'COMPLETED'"
    )
    deadline = time.monotonic() + 600
    completed, seconds = 0, 0.0
    try:
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            while time.monotonic() < deadline and completed < QUEUED:
                time.sleep(0.5)
                row = conn.execute(query, (batch,)).fetchone()
                assert row is not None
                completed, seconds = int(row[0]), float(row[1] or 0)
    finally:
        worker.stop(timeout=STOP_SECONDS)
    return {
        "completions_per_s": round(completed / seconds, 1) if seconds else None,
        "jobs": QUEUED,
        "completed": completed,
        "seconds": round(seconds, 2),
    }


# The targets of the current issue.
TARGETS = [
    *(
        target
        for name in GET_MEASURES
        for target in ((name, "floor_ratio", ">=", 0.8), (name, "p99_ms_8", "<", 20))
    ),
    (NO_METRICS_MEASURE, "metrics_cost", "<", 0.05),
    ("post_appointment_cancellation", "floor_ratio", ">=", 0.3),
    ("patch_ux_cancel", "floor_ratio", ">=", 0.3),
    ("worker_throughput", "completions_per_s", ">=", 1000),
    ("end_to_end", "p50_ms", "<", 20),
    ("end_to_end", "p99_ms", "<", 100),
    ("end_to_end_long_poll", "gets_per_request", "<=", 1.2),
    ("growth", "ratio", "<=", 1.2),
    ("memory", "peak_rss_mb", "<", 200),
]


def verdicts(results: dict[str, Any]) -> list[str]:
    """Each target, met or missed (a measure that failed misses)."""
    lines = []
    for measure, key, op, target in TARGETS:
        value = results.get(measure, {}).get(key)
        ok = value is not None and {
            ">=": value >= target, "<": value < target, "<=": value <= target,
        }[op]  # fmt: skip
        lines.append(f"{'met ' if ok else 'MISS'} {measure}.{key} = {value} (target {op} {target})")
    return lines


COLUMNS = (
    "measure", "req/s", "p50 ms", "p99 ms", f"p99 ms at {FEW_CONNECTIONS}", "ceiling req/s",
    "ratio", "floor req/s", "floor ratio",
)  # fmt: skip


def table(results: dict[str, Any]) -> str:
    """The README's table; a measure that failed gets a row saying why."""

    def line(*cells: object) -> str:
        padded = ["" if c is None else str(c) for c in cells]
        padded += [""] * (len(COLUMNS) - len(padded))
        return "|" + "".join(f" {c} |" if c else " |" for c in padded)

    def row(label: str, name: str, cells: Callable[[dict[str, Any]], tuple[object, ...]]) -> str:
        figures = results.get(name)
        if figures is None or "error" in figures:
            reason = "not reached" if figures is None else str(figures["error"])
            # One short line the table can hold; the JSON has the whole reason.
            short = (reason.splitlines() or ["?"])[0].replace("|", "/")[:120]
            return line(label, f"not measured: {short}")
        return line(label, *cells(figures))

    rows = [line(*COLUMNS), "|" + "---|" * len(COLUMNS)]
    rows.append(
        row("ceiling (constant JSON)", "ceiling", lambda c: (c["rps"], c["p50_ms"], c["p99_ms"]))
    )
    rows.append(
        row(
            "floor (one prepared primary-key read)",
            "floor",
            lambda f: (f["rps"], f["p50_ms"], f["p99_ms"], f.get("p99_ms_8")),
        )
    )
    for name in RATIO_MEASURES:
        rows.append(
            row(
                name,
                name,
                lambda r: (
                    r["rps"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r.get("p99_ms_8"),
                    r["ceiling_rps"],
                    r["ratio"],
                    r["floor_rps"],
                    r["floor_ratio"],
                ),
            )
        )
    for name, rate in (("end_to_end", E2E_RATE), ("end_to_end_light", E2E_LIGHT_RATE)):
        rows.append(row(f"{name} at {rate} req/s", name, lambda e: ("", e["p50_ms"], e["p99_ms"])))
    rows.append(
        row(
            f"end_to_end_long_poll at {E2E_RATE} req/s (Prefer: wait={LONG_POLL_WAIT})",
            "end_to_end_long_poll",
            lambda e: (f"{e['gets_per_request']} GETs/request", e["p50_ms"], e["p99_ms"]),
        )
    )
    rows.append(
        row(
            "worker_throughput",
            "worker_throughput",
            lambda w: (f"{w['completions_per_s']} completions/s",),
        )
    )
    rows.append(
        row(
            f"growth (GET p50, {SMALL:,} → {LARGE:,} appointments)",
            "growth",
            lambda g: ("", f"{g['small_p50_ms']} → {g['large_p50_ms']}", "", "", "", g["ratio"]),
        )
    )
    for page in ("first", "middle", "tenant", "status"):
        rows.append(
            row(
                f"console requests page ({page}, {FEW_CONNECTIONS} connections)",
                CONSOLE_MEASURE,
                console_cells(page),
            )
        )
    rows.append(row("memory (API peak RSS)", "memory", lambda m: (f"{m['peak_rss_mb']} MB",)))
    return "\n".join(rows)


def console_cells(page: str) -> Callable[[dict[str, Any]], tuple[object, ...]]:
    """The table's cells of one console page's run."""

    def cells(figures: dict[str, Any]) -> tuple[object, ...]:
        run = figures[page]
        return (
            f"{run['rps']} over {figures['rows']:,} rows",
            run["p50_ms"],
            run["p99_ms"],
            "",
            run["ceiling_rps"],
            run["ratio"],
        )

    return cells


def report(results: Results) -> None:
    """Write the JSON and print the table and the verdicts."""
    results.write()
    print(table(results.figures))
    print("\n".join(verdicts(results.figures)))
    print(f"written to {results.path.relative_to(ROOT)}")


def main() -> None:
    """Take every measure; whatever fails, end by writing the JSON and printing the table."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench` (it installs it)")
    logs = Path(tempfile.mkdtemp(prefix="cancelgate-bench-"))
    # Named when the run starts: a run that crosses midnight stays in one file.
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}.json"
    results = Results(out, {"machine": {**machine(), "database": None}, "command": "make bench"})
    try:
        run_suite(results, logs)
    except Exception as exc:
        results.fail(MEASURES, exc)
    finally:
        report(results)


def run_suite(results: Results, logs: Path) -> None:
    """A fresh database, every measure on it, then the database dropped and released."""
    try:
        url, where = database()
        results.about["machine"]["database"] = where
        log(f"database ready ({where}); logs in {logs}")
        env = {**SERVER_ENV, "DATABASE_URL": url, "CANCELGATE_DATA_DIR": str(logs)}
        try:
            asyncio.run(measure(results, url, env, logs))
        finally:
            drop_database(url)
    finally:
        release_embedded()


async def seed(seeder: Seeder) -> Fixtures:
    """Everything the measures work on, but the large growth batch and the worker's queue."""
    tenant = await seeder.tenant(f"bench-{int(time.time())}")
    log("seeding")
    small = await seeder.appointments(tenant, SMALL, completed=True)
    cancellation_id = (await seeder.ids(small, cancellations=True))[SMALL // 2]
    slow = await seeder.appointments(tenant, 1, completed=False, scenario=BOOKED_SLOW)
    (slow_appointment_id,) = await seeder.ids(slow)
    fresh_post = await seeder.ids(await seeder.appointments(tenant, 40_000, completed=False))
    # The light run, then the polling and the long-polling runs at E2E_RATE.
    e2e_count = (E2E_LIGHT_RATE + 2 * E2E_RATE) * E2E_SECONDS
    e2e_ids = await seeder.ids(await seeder.appointments(tenant, e2e_count, completed=False))
    (service_id,) = await seeder.services(tenant, 1)
    channel, ux_ids = await seeder.ux(15_000)
    await seeder.floor(FLOOR_ROWS)
    return Fixtures(
        tenant, cancellation_id, slow_appointment_id, fresh_post, e2e_ids, service_id, channel,
        ux_ids,
    )  # fmt: skip


async def measure(results: Results, url: str, env: dict[str, str], logs: Path) -> None:
    """Seed, then take every measure in turn. A measure that fails is recorded; so is a phase
    whose server does not start, for each of its measures; the run goes on to the next."""
    # The seeder's connections belong to this event loop: opened and closed in it.
    seeder = Seeder(url)
    try:
        fixtures = await seed(seeder)
        port = free_port()
        results.take("ceiling", lambda: ceiling(port, env, logs))
        results.take("floor", lambda: floor_measure(port, env, logs))
        try:
            await server_measures(results, seeder, fixtures, port, env, logs)
        except Exception as exc:
            results.fail(SERVER_MEASURES, exc)
        try:
            await end_to_end_measures(results, url, fixtures, port, env, logs)
        except Exception as exc:
            results.fail(E2E_MEASURES, exc)
        await results.take_async(
            "worker_throughput", lambda: queued_worker(url, seeder, fixtures.tenant, env, logs)
        )
    finally:
        await seeder.close()


def serve_args(port: int) -> list[str]:
    """`cancelgate serve` as every measure of ours runs it."""
    return [str(BIN / "cancelgate"), "serve", "--no-worker", "--port", str(port)]


def ceiling(port: int, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """The minimal app under the GETs' wrk run: the req/s ours are compared with."""
    base = f"http://127.0.0.1:{port}"
    app = pinned(SERVER_CPU, [sys.executable, "-m", "bench.ceiling", str(port)], env,
                 logs / "ceiling.log")  # fmt: skip
    try:
        wait_for_http(base + "/constant", timeout=60, proc=app.proc)
        top = wrk(base, "get.lua", {"BENCH_PATH": "/constant", "BENCH_HEADERS": ""})
    finally:
        app.stop(timeout=STOP_SECONDS)
    return {
        "rps": top.rps,
        "p50_ms": top.p50_ms,
        "p99_ms": top.p99_ms,
        "requests": top.requests,
        "non2xx": top.non2xx + top.errors,
    }


def floor_app(port: int, env: dict[str, str], logs: Path) -> Process:
    """The floor app (bench/floor.py), pinned as the server is, once it answers."""
    app = pinned(SERVER_CPU, [sys.executable, "-m", "bench.floor", str(port)], env,
                 logs / "floor.log")  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}{floor_path()}", timeout=60, proc=app.proc)
    except BaseException:
        app.stop(timeout=STOP_SECONDS)
        raise
    return app


def floor_path(row_id: int = FLOOR_ID) -> str:
    """The floor's GET of one seeded row."""
    return floor.PATH.format(row_id=row_id)


def floor_measure(port: int, env: dict[str, str], logs: Path) -> dict[str, Any]:
    """The floor under the GETs' wrk runs (CONNECTIONS, then FEW_CONNECTIONS), one row read
    again and again: the req/s of one prepared database round trip a request."""
    base = f"http://127.0.0.1:{port}"
    app = floor_app(port, env, logs)
    get_env = {"BENCH_PATH": floor_path(), "BENCH_HEADERS": ""}
    try:
        top = wrk(base, "get.lua", get_env)
        few = few_connections(base, "get.lua", get_env)
    finally:
        app.stop(timeout=STOP_SECONDS)
    return {
        "rps": top.rps,
        "p50_ms": top.p50_ms,
        "p99_ms": top.p99_ms,
        "requests": top.requests,
        "non2xx": top.non2xx + top.errors,
        **few,
        "rows": FLOOR_ROWS,
    }


async def server_measures(
    results: Results,
    seeder: Seeder,
    fixtures: Fixtures,
    port: int,
    env: dict[str, str],
    logs: Path,
) -> None:
    """The wrk measures, growth and memory, on one `serve --no-worker` process."""
    base = f"http://127.0.0.1:{port}"
    references = References.of(results)
    server = pinned(SERVER_CPU, serve_args(port), env, logs / "serve.log")
    try:
        wait_for_http(base + "/readyz", timeout=60, proc=server.proc)
        tenant = fixtures.tenant
        token = token_for(base, tenant.client_id, tenant.client_secret)
        auth = {"Authorization": f"Bearer {token}"}
        get_path = f"{APPOINTMENTS}/requests/{fixtures.cancellation_id}"
        get_env = {
            "BENCH_PATH": get_path,
            "BENCH_HEADERS": header_env({**auth, "X-API-VERSION": "8"}),
        }
        results.take("get_appointment_request", lambda: status_get(base, get_env, references))
        results.take(
            NO_METRICS_MEASURE,
            lambda: without_metrics(
                env,
                logs,
                tenant,
                get_path,
                references,
                results.figures.get("get_appointment_request"),
            ),
        )
        results.take(
            "get_appointment_request_in_progress",
            lambda: in_progress_get(base, auth, fixtures.slow_appointment_id, references),
        )
        service_env = {
            "BENCH_PATH": f"{SERVICE_CANCELLATIONS}/requests/{fixtures.service_id}",
            "BENCH_HEADERS": header_env({**auth, "X-API-VERSION": "7"}),
        }
        results.take("get_service_cancellation", lambda: status_get(base, service_env, references))
        posts = fresh_file(
            logs / "posts.txt",
            [(f"{APPOINTMENTS}/request", json.dumps({"appointmentId": i}))
             for i in fixtures.fresh_post],
        )  # fmt: skip
        json_v8 = header_env({**auth, "X-API-VERSION": "8", "Content-Type": "application/json"})
        post_env = {"BENCH_IDS_FILE": posts, "BENCH_METHOD": "POST", "BENCH_HEADERS": json_v8}
        results.take(
            "post_appointment_cancellation",
            lambda: fresh(wrk(base, "fresh.lua", post_env), len(fixtures.fresh_post), references),
        )
        patches = fresh_file(
            logs / "patches.txt",
            [(f"/ecom-ux/v1/PR/appointment/{i}", json.dumps(UX_BODY)) for i in fixtures.ux_ids],
        )
        ux_headers = header_env(
            {**fixtures.channel, "X-Correlation-ID": "bench", "Content-Type": "application/json"}
        )
        patch_env = {
            "BENCH_IDS_FILE": patches,
            "BENCH_METHOD": "PATCH",
            "BENCH_HEADERS": ux_headers,
        }
        results.take(
            "patch_ux_cancel",
            lambda: fresh(wrk(base, "fresh.lua", patch_env), len(fixtures.ux_ids), references),
        )
        await results.take_async("growth", lambda: growth(base, seeder, tenant, get_env))
        await results.take_async(
            CONSOLE_MEASURE, lambda: console_pages(base, seeder, env, references)
        )
        # VmHWM: the high-water mark over every measure this process served.
        results.take("memory", lambda: {"peak_rss_mb": round(peak_rss_mb(server.proc.pid), 1)})
    finally:
        server.stop(timeout=STOP_SECONDS)


def without_metrics(
    env: dict[str, str],
    logs: Path,
    tenant: Tenant,
    get_path: str,
    references: References,
    with_metrics: dict[str, Any] | None,
) -> dict[str, Any]:
    """The finished GET's runs on a `serve --no-worker` of its own (same CPU, same database,
    same request, a token of its own: a token is good at the address it came from) with
    CANCELGATE_METRICS=false, and `metrics_cost`: 1 - the req/s of the measure just taken with
    metrics / the req/s without (None if that one failed)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    quiet = {**env, "CANCELGATE_METRICS": "false"}
    server = pinned(SERVER_CPU, serve_args(port), quiet, logs / "serve-no-metrics.log")
    try:
        wait_for_http(base + "/readyz", timeout=60, proc=server.proc)
        if status_of(base, "/metrics", {}) != 404:
            raise RuntimeError("CANCELGATE_METRICS=false left /metrics on")
        token = token_for(base, tenant.client_id, tenant.client_secret)
        get_env = {
            "BENCH_PATH": get_path,
            "BENCH_HEADERS": header_env({"Authorization": f"Bearer {token}", "X-API-VERSION": "8"}),
        }
        figures = status_get(base, get_env, references)
    finally:
        server.stop(timeout=STOP_SECONDS)
    rps = (with_metrics or {}).get("rps")
    figures["rps_with_metrics"] = rps
    figures["metrics_cost"] = round(1 - rps / figures["rps"], 3) if rps else None
    return figures


def fresh(load: Load, fixtures: int, references: References) -> dict[str, Any]:
    """A run on fresh fixtures beside the references; a run that used more requests than it
    had fixtures sent some twice (refused, not measured): said in the log and the figures."""
    if load.requests > fixtures:
        log(f"warning: {load.requests} requests on {fixtures} fresh fixtures: some reused")
    return {**ratio(load, references), "fixtures": fixtures}


async def growth(
    base: str, seeder: Seeder, tenant: Tenant, get_env: dict[str, str]
) -> dict[str, Any]:
    """The GET's p50 at SMALL appointments, then at LARGE (seeded in between)."""
    small_load = wrk(base, "get.lua", get_env, connections=8, seconds=5)
    log(f"growth: seeding to {LARGE:,} appointments")
    total = await seeder.scalar("SELECT count(*) FROM appointments")
    await seeder.appointments(tenant, LARGE - total, completed=True)
    large_load = wrk(base, "get.lua", get_env, connections=8, seconds=5)
    return {
        "small_p50_ms": small_load.p50_ms,
        "large_p50_ms": large_load.p50_ms,
        "ratio": round(large_load.p50_ms / small_load.p50_ms, 2),
        "appointments": [SMALL, LARGE],
    }


async def console_pages(
    base: str, seeder: Seeder, env: dict[str, str], references: References
) -> dict[str, Any]:
    """The console's list of appointment cancellations at LARGE rows, by an operator's session:
    the first page, a page half way down, and the tenant and status filters (wrk at
    FEW_CONNECTIONS each: a person's page, not a load)."""
    password = "bench console passphrase"
    created = subprocess.run(
        [str(BIN / "cancelgate"), "operators", "create", "--email", "bench@example.com",
         "--password-stdin"],
        input=password, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if created.returncode != 0:
        raise RuntimeError(f"operators create: {created.stderr}")
    cookie = await console_session(base, "bench@example.com", password)
    rows = await seeder.scalar("SELECT count(*) FROM appointment_cancellations")
    middle = await seeder.scalar("SELECT max(id) / 2 FROM appointment_cancellations")
    tenant = await seeder.text_value(
        "SELECT t.name FROM tenants t JOIN appointment_cancellations c ON c.tenant_id = t.id"
        " ORDER BY c.id DESC LIMIT 1"
    )
    headers = header_env({"Cookie": cookie})
    figures: dict[str, Any] = {"rows": rows}
    for name, query in (
        ("first", ""),
        ("middle", f"?before={middle}"),
        ("tenant", f"?tenant={tenant}"),
        ("status", "?status=COMPLETED"),
    ):
        page_env = {"BENCH_PATH": f"/console/requests{query}", "BENCH_HEADERS": headers}
        load = wrk(base, "get.lua", page_env, connections=FEW_CONNECTIONS, seconds=FEW_SECONDS)
        figures[name] = ratio(load, references)
    return figures


async def console_session(base: str, email: str, password: str) -> str:
    """Log in to the console (once the console has seen its first operator): `name=value` of
    the session cookie."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        deadline = time.monotonic() + 30
        while (page := await http.get("/console/login")).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the console did not open: {page.status_code}")
            await asyncio.sleep(0.5)
        csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        done = await http.post(
            "/console/login", data={"csrf": csrf, "email": email, "password": password}
        )
        if done.status_code != 303 or "cg_console" not in http.cookies:
            raise RuntimeError(f"console login: {done.status_code}")
        return f"cg_console={http.cookies['cg_console']}"


async def end_to_end_measures(
    results: Results, url: str, fixtures: Fixtures, port: int, env: dict[str, str], logs: Path
) -> None:
    """Both end-to-end rates and the long-poll variant on the scale-out topology: one API process
    on its CPU, one worker process free to use either (an in-process worker would share one CPU
    with every POST and poll)."""
    base = f"http://127.0.0.1:{port}"
    log(f"end to end: {drop_backlog(url)} queued jobs dropped")
    server = pinned(SERVER_CPU, serve_args(port), env, logs / "serve-e2e.log")
    worker = pinned("0,1", [str(BIN / "cancelgate"), "worker", "--concurrency", "20"], env,
                    logs / "worker-e2e.log")  # fmt: skip
    try:
        wait_for_http(base + "/readyz", timeout=60, proc=server.proc)
        tenant = fixtures.tenant
        token = token_for(base, tenant.client_id, tenant.client_secret)
        headers = {"Authorization": f"Bearer {token}", "X-API-VERSION": "8"}
        light = fixtures.e2e_ids[: E2E_LIGHT_RATE * E2E_SECONDS]
        heavy = fixtures.e2e_ids[len(light) : len(light) + E2E_RATE * E2E_SECONDS]
        long_polled = fixtures.e2e_ids[len(light) + len(heavy) :]
        await results.take_async(
            "end_to_end_light", lambda: end_to_end(base, headers, light, E2E_LIGHT_RATE)
        )
        drop_backlog(url)
        await results.take_async("end_to_end", lambda: end_to_end(base, headers, heavy))
        log(f"end to end, long poll: {drop_backlog(url)} queued jobs dropped")
        await results.take_async(
            "end_to_end_long_poll",
            lambda: end_to_end(base, headers, long_polled, wait=LONG_POLL_WAIT),
        )
    finally:
        try:
            worker.stop(timeout=STOP_SECONDS)
        finally:
            server.stop(timeout=STOP_SECONDS)


async def queued_worker(
    url: str, seeder: Seeder, tenant: Tenant, env: dict[str, str], logs: Path
) -> dict[str, Any]:
    """QUEUED fresh cancellations queued behind no backlog, and one worker's pace through them."""
    log(f"worker throughput: {QUEUED:,} queued cancellations, one worker")
    drop_backlog(url)
    queued = await seeder.appointments(tenant, QUEUED, completed=False)
    queue_cancellations(url, tenant, queued)
    return worker_throughput(url, queued, env, logs)


if __name__ == "__main__":
    main()
