"""`make bench`: every measure of the suite in one run, written to bench/results/<date>.json.

Processes run on 127.0.0.1; the server under test is pinned to CPU 0, the load generator (and
the embedded PostgreSQL, when it is ours) to CPU 1. Each figure of ours stands beside the
ceiling: a minimal FastAPI app served the same way.
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

from bench.seed import Seeder, Tenant
from cancelgate.appointments.service import SUBMIT_TASK
from cancelgate.db.embedded import release_embedded, start_embedded
from cancelgate.db.migrate import upgrade
from cancelgate.db.urls import libpq_url
from cancelgate.upstream.csg.scenarios import SEED_BILLING_ACCOUNT

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LUA = ROOT / "bench" / "lua"
RESULTS = ROOT / "bench" / "results"
SERVER_CPU = "0"
LOAD_CPU = "1"
STOP_SECONDS = 30  # a server or worker finishing what it holds after SIGTERM
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 64
APPOINTMENTS = "/api/connect/orders/appointment-cancellations"
SERVICE_CANCELLATIONS = "/api/connect/services/service-cancellations"
SMALL, LARGE = 10_000, 1_000_000
E2E_RATE, E2E_SECONDS = 100, 10
# Also measured at a rate this machine sustains, to show the latency of an unsaturated system.
E2E_LIGHT_RATE = 20
QUEUED = 10_000
# What every server and worker of the suite runs with, beside its database and data dir.
SERVER_ENV = {"CANCELGATE_LOG_LEVEL": "WARNING", "CANCELGATE_SANDBOX": "false"}
UX_BODY = {
    "status": "cancelled",
    "relatedEntity": [
        {"@referredType": "CancellationReason", "id": "CR", "role": "cancellationReason"},
        {"id": SEED_BILLING_ACCOUNT, "role": "Customer Account", "@referredType": "BillingAccount"},
    ],
    "validFor": {"endDateTime": "2026-03-05T12:00:00.000-04:00"},
    "characteristics": [{"name": "orderClass", "value": "S"}],
}


@dataclass
class Load:
    """What one wrk run measured."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non2xx: int


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


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
    return "|".join(f"{k}:{v}" for k, v in headers.items())


def fresh_file(target: Path, lines: list[tuple[str, str]]) -> str:
    """The file fresh.lua reads: one `path<TAB>body` line per request."""
    target.write_text("".join(f"{path}\t{body}\n" for path, body in lines))
    return str(target)


def machine() -> dict[str, Any]:
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


def ratio(ours: Load, ceiling: Load) -> dict[str, Any]:
    return {
        "rps": ours.rps,
        "p50_ms": ours.p50_ms,
        "p99_ms": ours.p99_ms,
        "ceiling_rps": ceiling.rps,
        "ratio": round(ours.rps / ceiling.rps, 3),
        "requests": ours.requests,
        "non2xx": ours.non2xx + ours.errors,
    }


async def end_to_end(
    base: str, headers: dict[str, str], ids: list[int], rate: int = E2E_RATE
) -> dict[str, Any]:
    """Open loop: a POST every 1/rate s, each polled until 200 (5 ms, doubling to 100 ms, as a
    client keen on latency would); the time from POST to the 200."""
    durations: list[float] = []
    failures: dict[str, int] = {}

    def failed(reason: str) -> None:
        failures[reason] = failures.get(reason, 0) + 1

    async def one(client: httpx.AsyncClient, appointment_id: int) -> None:
        started = time.perf_counter()
        posted = await client.post(
            f"{APPOINTMENTS}/request", json={"appointmentId": appointment_id}, headers=headers
        )
        if posted.status_code != 201:
            failed(f"POST {posted.status_code}")
            return
        location = posted.headers["location"]
        deadline = started + 10
        pause = 0.005
        while time.perf_counter() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
            answer = await client.get(location, headers=headers)
            if answer.status_code == 200:
                durations.append(time.perf_counter() - started)
                return
            if answer.status_code != 202:
                failed(f"GET {answer.status_code}")
                return
        failed("still 202 after 10 s")

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        tasks = []
        start = time.perf_counter()
        for n, appointment_id in enumerate(ids[: rate * E2E_SECONDS]):
            # Open loop: each request starts on schedule, whatever the earlier ones are doing.
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, appointment_id)))
        await asyncio.gather(*tasks)
    if len(durations) < 2:
        raise RuntimeError(f"end to end: almost nothing completed: {failures}")
    quantiles = statistics.quantiles(durations, n=100)
    return {
        "rate_rps": rate,
        "p50_ms": round(statistics.median(durations) * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
        "requests": len(tasks),
        "failed": failures,
    }


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


TARGETS = [
    ("get_appointment_request", "ratio", ">=", 0.5),
    ("get_appointment_request", "p99_ms", "<", 20),
    ("get_service_cancellation", "ratio", ">=", 0.5),
    ("get_service_cancellation", "p99_ms", "<", 20),
    ("post_appointment_cancellation", "ratio", ">=", 0.25),
    ("patch_ux_cancel", "ratio", ">=", 0.25),
    ("end_to_end", "p50_ms", "<", 20),
    ("end_to_end", "p99_ms", "<", 100),
    ("worker_throughput", "completions_per_s", ">=", 1000),
    ("growth", "ratio", "<=", 1.2),
    ("memory", "peak_rss_mb", "<", 200),
]


def verdicts(results: dict[str, Any]) -> list[str]:
    lines = []
    for measure, key, op, target in TARGETS:
        value = results.get(measure, {}).get(key)
        ok = value is not None and {
            ">=": value >= target, "<": value < target, "<=": value <= target,
        }[op]  # fmt: skip
        lines.append(f"{'met ' if ok else 'MISS'} {measure}.{key} = {value} (target {op} {target})")
    return lines


def table(results: dict[str, Any]) -> str:
    rows = [
        "| measure | req/s | p50 ms | p99 ms | ceiling req/s | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("get_appointment_request", "get_service_cancellation",
                 "post_appointment_cancellation", "patch_ux_cancel"):  # fmt: skip
        r = results[name]
        rows.append(
            f"| {name} | {r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['ceiling_rps']} | "
            f"{r['ratio']} |"
        )
    w, g, m = (results[k] for k in ("worker_throughput", "growth", "memory"))
    for e in (results["end_to_end"], results["end_to_end_light"]):
        rows.append(
            f"| end_to_end at {e['rate_rps']} req/s | | {e['p50_ms']} | {e['p99_ms']} | | |"
        )
    rows.append(f"| worker_throughput | {w['completions_per_s']} completions/s | | | | |")
    rows.append(
        f"| growth (GET p50, {SMALL:,} → {LARGE:,} appointments) | | {g['small_p50_ms']} → "
        f"{g['large_p50_ms']} | | | {g['ratio']} |"
    )
    rows.append(f"| memory (API peak RSS) | {m['peak_rss_mb']} MB | | | | |")
    return "\n".join(rows)


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run `make bench` (it installs it)")
    logs = Path(tempfile.mkdtemp(prefix="cancelgate-bench-"))
    url, where = database()
    log(f"database ready ({where}); logs in {logs}")
    seeder = Seeder(url)
    env = {**SERVER_ENV, "DATABASE_URL": url, "CANCELGATE_DATA_DIR": str(logs)}
    results: dict[str, Any] = {}
    try:
        results = asyncio.run(measure(url, seeder, env, logs))
    finally:
        asyncio.run(seeder.close())
        drop_database(url)
        release_embedded()
    results["machine"] = {**machine(), "database": where}
    results["command"] = "make bench"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print("\n".join(verdicts(results)))
    print(f"written to {out.relative_to(ROOT)}")


async def measure(url: str, seeder: Seeder, env: dict[str, str], logs: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    tenant = await seeder.tenant(f"bench-{int(time.time())}")
    log("seeding")
    small = await seeder.appointments(tenant, SMALL, completed=True)
    cancellation_id = (await seeder.ids(small, cancellations=True))[SMALL // 2]
    fresh_post = await seeder.ids(await seeder.appointments(tenant, 40_000, completed=False))
    e2e_count = (E2E_RATE + E2E_LIGHT_RATE) * E2E_SECONDS
    e2e_ids = await seeder.ids(await seeder.appointments(tenant, e2e_count, completed=False))
    (service_id,) = await seeder.services(tenant, 1)
    channel, ux_ids = await seeder.ux(15_000)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ceiling = pinned(SERVER_CPU, [sys.executable, "-m", "bench.ceiling", str(port)], env,
                     logs / "ceiling.log")  # fmt: skip
    try:
        wait_for_http(base + "/constant", timeout=60, proc=ceiling.proc)
        log("ceiling")
        top = wrk(base, "get.lua", {"BENCH_PATH": "/constant", "BENCH_HEADERS": ""})
    finally:
        ceiling.stop(timeout=STOP_SECONDS)

    serve_args = [str(BIN / "cancelgate"), "serve", "--no-worker", "--port", str(port)]
    server = pinned(SERVER_CPU, serve_args, env, logs / "serve.log")
    try:
        wait_for_http(base + "/readyz", timeout=60, proc=server.proc)
        token = token_for(base, tenant.client_id, tenant.client_secret)
        auth = {"Authorization": f"Bearer {token}"}
        v8 = header_env({**auth, "X-API-VERSION": "8"})
        v7 = header_env({**auth, "X-API-VERSION": "7"})
        get_path = f"{APPOINTMENTS}/requests/{cancellation_id}"
        log("GET appointment-cancellation request")
        results["get_appointment_request"] = ratio(
            wrk(base, "get.lua", {"BENCH_PATH": get_path, "BENCH_HEADERS": v8}), top
        )
        log("GET service-cancellation")
        service_path = f"{SERVICE_CANCELLATIONS}/requests/{service_id}"
        results["get_service_cancellation"] = ratio(
            wrk(base, "get.lua", {"BENCH_PATH": service_path, "BENCH_HEADERS": v7}), top
        )
        log("POST appointment cancellation")
        posts = fresh_file(
            logs / "posts.txt",
            [(f"{APPOINTMENTS}/request", json.dumps({"appointmentId": i})) for i in fresh_post],
        )
        json_v8 = header_env({**auth, "X-API-VERSION": "8", "Content-Type": "application/json"})
        results["post_appointment_cancellation"] = ratio(
            wrk(base, "fresh.lua",
                {"BENCH_IDS_FILE": posts, "BENCH_METHOD": "POST", "BENCH_HEADERS": json_v8}),
            top,
        )  # fmt: skip
        log("PATCH UX cancel")
        patches = fresh_file(
            logs / "patches.txt",
            [(f"/ecom-ux/v1/PR/appointment/{i}", json.dumps(UX_BODY)) for i in ux_ids],
        )
        ux_headers = header_env(
            {**channel, "X-Correlation-ID": "bench", "Content-Type": "application/json"}
        )
        results["patch_ux_cancel"] = ratio(
            wrk(base, "fresh.lua",
                {"BENCH_IDS_FILE": patches, "BENCH_METHOD": "PATCH", "BENCH_HEADERS": ux_headers}),
            top,
        )  # fmt: skip
        log(f"growth: GET at {SMALL:,} appointments")
        small_load = wrk(base, "get.lua", {"BENCH_PATH": get_path, "BENCH_HEADERS": v8},
                         connections=8, seconds=5)  # fmt: skip
        log(f"growth: seeding to {LARGE:,} appointments")
        total = await seeder.scalar("SELECT count(*) FROM appointments")
        await seeder.appointments(tenant, LARGE - total, completed=True)
        large_load = wrk(base, "get.lua", {"BENCH_PATH": get_path, "BENCH_HEADERS": v8},
                         connections=8, seconds=5)  # fmt: skip
        results["growth"] = {
            "small_p50_ms": small_load.p50_ms,
            "large_p50_ms": large_load.p50_ms,
            "ratio": round(large_load.p50_ms / small_load.p50_ms, 2),
            "appointments": [SMALL, LARGE],
        }
        # VmHWM: the high-water mark over every measure this process served.
        results["memory"] = {"peak_rss_mb": round(peak_rss_mb(server.proc.pid), 1)}
    finally:
        server.stop(timeout=STOP_SECONDS)

    # The scale-out topology: one API process on its CPU, one worker process free to use
    # either (an in-process worker would share one CPU with every POST and poll).
    log(f"end to end (serve --no-worker and a worker process); {drop_backlog(url)} jobs dropped")
    server = pinned(SERVER_CPU, serve_args, env, logs / "serve-e2e.log")
    worker = pinned("0,1", [str(BIN / "cancelgate"), "worker", "--concurrency", "20"], env,
                    logs / "worker-e2e.log")  # fmt: skip
    try:
        wait_for_http(base + "/readyz", timeout=60, proc=server.proc)
        headers = {**auth, "X-API-VERSION": "8"}  # the token outlives the whole run
        light = e2e_ids[: E2E_LIGHT_RATE * E2E_SECONDS]
        results["end_to_end_light"] = await end_to_end(base, headers, light, E2E_LIGHT_RATE)
        drop_backlog(url)
        results["end_to_end"] = await end_to_end(base, headers, e2e_ids[len(light) :])
    finally:
        worker.stop(timeout=STOP_SECONDS)
        server.stop(timeout=STOP_SECONDS)

    log(f"worker throughput: {QUEUED:,} queued cancellations, one worker")
    drop_backlog(url)
    queued = await seeder.appointments(tenant, QUEUED, completed=False)
    queue_cancellations(url, tenant, queued)
    results["worker_throughput"] = worker_throughput(url, queued, env, logs)
    return results


if __name__ == "__main__":
    main()
