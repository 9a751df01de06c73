"""One measure of the suite on its own, optionally under py-spy: the figures a change is judged by.

    python -m bench.profile get|get-in-progress|service|post|patch|worker|floor
        [--seconds N] [--connections N] [--spy FILE]

The same database, seeding, pinning and wrk scripts as `make bench`; a smaller fixture set.
`get-in-progress` reads a cancellation that stays in progress (a booked-slow appointment's, on a
server without a worker); `floor` runs bench/floor.py in the server's place. With --spy, py-spy
samples the server (or the floor) while wrk runs and writes its raw stacks to FILE; the run then
prints the functions that hold the most samples (inclusive).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.support import drop_database, free_port, token_for, wait_for_http

from bench import run
from bench.seed import Seeder
from cancelgate.db.embedded import release_embedded
from cancelgate.upstream.nbn.scenarios import BOOKED_SLOW

MEASURES = ("get", "get-in-progress", "service", "post", "patch", "worker", "floor")
FIXTURES = 10_000


@dataclass(frozen=True)
class Options:
    """How long, at how many connections, and where py-spy writes (None: no py-spy)."""

    seconds: int
    connections: int
    spy: Path | None


def hottest(raw: Path, top: int = 40) -> list[str]:
    """Each function's inclusive share of the samples in py-spy's raw output (once per stack)."""
    counts: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        total += int(samples)
        for frame in {frame.split(":")[0] for frame in stack.split(";")}:
            counts[frame] += int(samples)
    return [f"{100 * n / total:5.1f}% {frame}" for frame, n in counts.most_common(top)]


async def load_for(
    measure: str, seeder: Seeder, base: str, logs: Path
) -> tuple[str, dict[str, str]]:
    """The wrk script and its environment for one server measure, on fresh fixtures."""
    tenant = await seeder.tenant(f"profile-{int(time.time())}")
    auth = {"Authorization": f"Bearer {token_for(base, tenant.client_id, tenant.client_secret)}"}
    if measure == "get":
        batch = await seeder.appointments(tenant, 1_000, completed=True)
        cancellation_id = (await seeder.ids(batch, cancellations=True))[0]
        path = f"{run.APPOINTMENTS}/requests/{cancellation_id}"
        return "get.lua", {
            "BENCH_PATH": path,
            "BENCH_HEADERS": run.header_env({**auth, "X-API-VERSION": "8"}),
        }
    if measure == "get-in-progress":
        slow = await seeder.appointments(tenant, 1, completed=False, scenario=BOOKED_SLOW)
        (appointment_id,) = await seeder.ids(slow)
        headers = {**auth, "X-API-VERSION": "8"}
        location = run.requested_in_progress(base, headers, appointment_id)
        return "get.lua", {"BENCH_PATH": location, "BENCH_HEADERS": run.header_env(headers)}
    if measure == "service":
        (service_id,) = await seeder.services(tenant, 1)
        path = f"{run.SERVICE_CANCELLATIONS}/requests/{service_id}"
        return "get.lua", {
            "BENCH_PATH": path,
            "BENCH_HEADERS": run.header_env({**auth, "X-API-VERSION": "7"}),
        }
    if measure == "post":
        ids = await seeder.ids(await seeder.appointments(tenant, FIXTURES, completed=False))
        lines = [(f"{run.APPOINTMENTS}/request", json.dumps({"appointmentId": i})) for i in ids]
        headers = {**auth, "X-API-VERSION": "8", "Content-Type": "application/json"}
        return "fresh.lua", {
            "BENCH_IDS_FILE": run.fresh_file(logs / "posts.txt", lines),
            "BENCH_METHOD": "POST",
            "BENCH_HEADERS": run.header_env(headers),
        }
    channel, ux_ids = await seeder.ux(FIXTURES)
    lines = [(f"/ecom-ux/v1/PR/appointment/{i}", json.dumps(run.UX_BODY)) for i in ux_ids]
    headers = {**channel, "X-Correlation-ID": "bench", "Content-Type": "application/json"}
    return "fresh.lua", {
        "BENCH_IDS_FILE": run.fresh_file(logs / "patches.txt", lines),
        "BENCH_METHOD": "PATCH",
        "BENCH_HEADERS": run.header_env(headers),
    }


def sample(pid: int, seconds: int, spy: Path) -> subprocess.Popen[bytes]:
    """py-spy recording process pid for `seconds`, its raw stacks written to spy."""
    return subprocess.Popen(
        [str(run.BIN / "py-spy"), "record", "--nonblocking", "-r", "500", "-f", "raw",
         "-d", str(seconds), "-p", str(pid), "-o", str(spy)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def load(base: str, script: str, env: dict[str, str], options: Options, pid: int) -> None:
    """One wrk run (py-spy on pid alongside, if asked): its figures, then the hottest frames."""
    sampler = None if options.spy is None else sample(pid, options.seconds, options.spy)
    figures = run.wrk(base, script, env, connections=options.connections, seconds=options.seconds)
    print(json.dumps(asdict(figures)))
    if sampler is not None and options.spy is not None:
        sampler.wait(options.seconds + 30)
        print("\n".join(hottest(options.spy)))


async def measure(name: str, url: str, env: dict[str, str], logs: Path, options: Options) -> None:
    seeder = Seeder(url)
    try:
        if name == "worker":
            tenant = await seeder.tenant(f"profile-{int(time.time())}")
            batch = await seeder.appointments(tenant, run.QUEUED, completed=False)
            run.queue_cancellations(url, tenant, batch)
            print(json.dumps(run.worker_throughput(url, batch, env, logs)))
            return
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        if name == "floor":
            await seeder.floor(run.FLOOR_ROWS)
            app = run.floor_app(port, env, logs)
            try:
                floor_env = {"BENCH_PATH": run.floor_path(), "BENCH_HEADERS": ""}
                load(base, "get.lua", floor_env, options, app.proc.pid)
            finally:
                app.stop(timeout=run.STOP_SECONDS)
            return
        server = run.pinned(run.SERVER_CPU, run.serve_args(port), env, logs / "serve.log")
        try:
            wait_for_http(base + "/readyz", timeout=60, proc=server.proc)
            script, script_env = await load_for(name, seeder, base, logs)
            load(base, script, script_env, options, server.proc.pid)
        finally:
            server.stop(timeout=run.STOP_SECONDS)
    finally:
        await seeder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measure", choices=MEASURES)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=run.CONNECTIONS)
    parser.add_argument("--spy", type=Path, help="write py-spy's raw stacks of the server here")
    options = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="cancelgate-profile-"))
    url, where = run.database()
    print(f"database: {where}; logs in {logs}", file=sys.stderr)
    env = {**run.SERVER_ENV, "DATABASE_URL": url, "CANCELGATE_DATA_DIR": str(logs)}
    chosen = Options(options.seconds, options.connections, options.spy)
    try:
        asyncio.run(measure(options.measure, url, env, logs, chosen))
    finally:
        drop_database(url)
        release_embedded()


if __name__ == "__main__":
    main()
