"""Helpers shared by the tests: routes, dates, fixed data, databases, processes, clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy.engine import make_url

from cancelgate.db.urls import libpq_url
from cancelgate.migrate import upgrade

CANCELGATE = str(Path(sys.executable).parent / "cancelgate")
VERSION_8 = {"X-API-VERSION": "8"}
T = TypeVar("T")

# Connect routes the tests call.
REQUEST = "/api/connect/orders/appointment-cancellations/request"
REQUESTS = "/api/connect/orders/appointment-cancellations/requests"
SERVICE_REQUEST = "/api/connect/services/service-cancellations/request"
SERVICE_REQUESTS = "/api/connect/services/service-cancellations/requests"
SUBSCRIPTIONS = "/api/connect/webhooks/subscriptions"

# The business time zone: cancellation dates are Sydney dates.
SYDNEY = ZoneInfo("Australia/Sydney")

# The seed's UX PATCH examples and its 400 messages.
INSTALLATION_BODY: dict[str, Any] = {
    "status": "cancelled",
    "relatedEntity": [
        {
            "@type": "RelatedEntity",
            "@referredType": "CancellationReason",
            "id": "CR",
            "name": "User canceled appointment",
            "role": "cancellationReason",
        },
        {
            "id": "8211990010043396",
            "role": "Customer Account",
            "@referredType": "BillingAccount",
            "characteristics": [
                {"name": "type", "value": "RES"},
                {"name": "provisionableType", "value": "P"},
            ],
        },
    ],
    "validFor": {"endDateTime": "2026-03-05T12:00:00.000-04:00"},
    "characteristics": [{"name": "orderClass", "value": "S"}],
}
TECHNICAL_BODY: dict[str, Any] = {
    "status": "cancelled",
    "relatedEntity": [INSTALLATION_BODY["relatedEntity"][0]],
    "validFor": {"endDateTime": "2026-03-05T12:00:00.000-04:00"},
    "characteristics": [{"name": "orderClass", "value": "T"}],
}
BAD_REQUEST = "The request is invalid or not properly formed."
MALFORMED = (
    "Malformed request syntax, invalid request message framing, or deceptive request routing."
)

# Settings that make the test processes quick to observe, so that waiting is short.
# Tests wait on conditions rather than for fixed times, and none sleeps and then checks that
# nothing more came. The only sleeps under tests/ are: the bounded polling intervals of the
# wait helpers (wait_for_http, poll_outcome and poll_until below; poll and apoll_until in
# tests/api/checks.py; Calls.outcome in tests/api/test_openapi_conformance.py); the webhook
# receiver's `delay`, which plays a slow endpoint (tests/receiver.py, used by
# tests/e2e/test_webhook_processes.py); a 0.1 s pause in tests/api/test_read_pool.py that
# lets a long read (a `pg_sleep`) take the pool's only connection before the next read is made
# to time out; and, in tests/api/test_rate_limits.py, the Retry-After of a rate limit waited
# out where that wait is what is tested.
FAST_ENV = {
    "CANCELGATE_SIM_SLOW_SECONDS": "1.5",
    "CANCELGATE_WORKER_HEARTBEAT_SECONDS": "1",
    "CANCELGATE_WORKER_POLL_SECONDS": "0.5",
    "CANCELGATE_JOB_MAX_ATTEMPTS": "3",
    "CANCELGATE_STALLED_AFTER_SECONDS": "3",
    "CANCELGATE_JOB_RETRY_BASE_SECONDS": "0.5",
    "CANCELGATE_LOG_LEVEL": "WARNING",
    # Quotas no test reaches by accident (races send 50 POSTs, long polls hold 300 GETs, at
    # once, for one client); tests of the limits set their own.
    **{
        f"CANCELGATE_RATE_LIMIT_{family}_{knob}": "100000"
        for family in ("STATUS", "COMMANDS", "UX")
        for knob in ("PER_SECOND", "BURST")
    },
    "CANCELGATE_RATE_LIMIT_TOKENS_PER_MINUTE": "100000",
    "CANCELGATE_RATE_LIMIT_TOKENS_BURST": "100000",
    "CANCELGATE_RATE_LIMIT_TOKEN_FAILURES": "100000",
}


def sydney_today() -> date:
    """Today's date in Sydney."""
    return datetime.now(SYDNEY).date()


def in_days(days: int) -> str:
    """The Sydney date `days` after today, ISO formatted (a cancellationDate)."""
    return (sydney_today() + timedelta(days=days)).isoformat()


def location_id(location: str) -> int:
    """The id that ends a Location (an outcome URL or path)."""
    return int(location.rstrip("/").rsplit("/", 1)[1])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_database(server_url: str, prefix: str = "cancelgate_test") -> str:
    """A new, empty database on the server of server_url; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(libpq_url(server_url)).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop a test database, disconnecting whoever is still on it."""
    parsed = make_url(url)
    admin = parsed.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@contextmanager
def migrated_database(database_url: str) -> Iterator[str]:
    """A new, migrated database on database_url's server for the block; dropped after it."""
    server = make_url(database_url).set(database="postgres").render_as_string(hide_password=False)
    url = create_database(server)
    try:
        upgrade(url)
        yield url
    finally:
        drop_database(url)


def query(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows of one SQL statement (`%s` placeholders, params in order) on database_url."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(sql, params).fetchall()


def count(database_url: str, sql: str, *params: object) -> int:
    """The single value of a one-row, one-column query (a `SELECT count(*)`), as an int."""
    [(value,)] = query(database_url, sql, *params)
    return int(value)


def clean_env(tmp_path: Path, home_name: str = "xdg") -> dict[str, str]:
    """Our environment without any CANCELGATE_* and with a config home of its own (empty)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANCELGATE_")}
    home = tmp_path / home_name
    home.mkdir(exist_ok=True)
    env["XDG_CONFIG_HOME"] = str(home)
    # The command line keeps its tokens under the cache home: one of the test's own too.
    env["XDG_CACHE_HOME"] = str(home / "cache")
    return env


def wait_for_http(
    url: str, *, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll url until it answers 200 (bounded by timeout); fail early if proc died."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


@dataclass
class Process:
    """A cancelgate process started by a test."""

    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Signal the process and wait for it (killing it if it overstays)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def output(self) -> str:
        """What the process printed so far."""
        return self.log.read_text(errors="replace")


def start(args: list[str], env: dict[str, str], log: Path) -> Process:
    """Start `cancelgate <args>` with env added to a clean copy of ours."""
    full_env = {**os.environ, **FAST_ENV, **env}
    handle = log.open("wb")
    proc = subprocess.Popen(
        [CANCELGATE, *args], env=full_env, stdout=handle, stderr=subprocess.STDOUT
    )
    return Process(proc, log)


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path, health_url: str) -> Iterator[Process]:
    """A process that is up (health_url answers) for the duration of the block."""
    process = start(args, env, log)
    try:
        wait_for_http(health_url, proc=process.proc)
        yield process
    except BaseException:
        sys.stderr.write(process.output()[-4000:])
        raise
    finally:
        process.stop()


def token_for(base_url: str, client_id: str, secret: str) -> str:
    """An access token by client_secret_basic."""
    response = httpx.post(
        f"{base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def poll_outcome(
    client: httpx.Client, location: str, headers: dict[str, str], *, timeout: float = 30.0
) -> httpx.Response:
    """GET location until it stops answering 202 (bounded by timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(location, headers=headers)
        if response.status_code != 202:
            return response
        time.sleep(0.1)
    raise TimeoutError(f"{location} still 202 after {timeout}s")


def poll_until(
    fetch: Callable[[], T], done: Callable[[T], bool], *, timeout: float, what: str
) -> T:
    """The first fetch() that done() accepts; TimeoutError naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if done(value):
            return value
        time.sleep(0.05)
    raise TimeoutError(f"{what} within {timeout}s")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Return once condition() holds; TimeoutError naming `what` after timeout seconds."""
    poll_until(condition, bool, timeout=timeout, what=what)


def report(**figures: object) -> None:
    """What a test measured, one `MEASURED k=v …` line on stderr (`pytest -s` shows it)."""
    print("MEASURED " + " ".join(f"{k}={v}" for k, v in figures.items()), file=sys.stderr)


def job_counts(database_url: str, task: str) -> dict[str, int]:
    """How many of a task's jobs are in each procrastinate status."""
    rows = query(
        database_url,
        "SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name = %s "
        "GROUP BY status",
        task,
    )
    return {status: int(jobs) for status, jobs in rows}
