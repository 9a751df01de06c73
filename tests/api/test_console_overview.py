"""The console's overview: request and upstream rates from the counts `/metrics` exposes (read
into a bounded ring once a minute: the arithmetic as pure functions, the page over HTTP after
real API requests), and the job queue, stalled workers, webhook backlog and failure rate read
from the database."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from cancelgate.app import create_app
from cancelgate.auth.models import Tenant
from cancelgate.console import rates
from cancelgate.console.rates import RateHistory, Reading
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.observability import metrics
from cancelgate.settings import Settings
from cancelgate.upstream.nbn import scenarios
from tests.api.console_support import BASE, Operator, logged_in, make_client, seed_requests
from tests.support import REQUEST, VERSION_8, query

T0 = datetime(2026, 12, 1, 22, 41, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# Pure functions: families, windows, rows, notes.


def test_routes_fall_in_their_api_family() -> None:
    expected = {
        "/api/connect/orders/appointment-cancellations/request": "connect-appointments",
        "/api/connect/orders/appointment-cancellations/requests/{request_id}": (
            "connect-appointments"
        ),
        "/api/connect/services/service-cancellations/request": "connect-services",
        "/api/connect/services/{service_id}": "connect-services",
        "/api/connect/webhooks/subscriptions/{subscription_id}": "connect-webhooks",
        "/api/connect/sandbox/clock/advance": "sandbox",
        # The UX API's sandbox is the sandbox, not the UX API.
        "/ecom-ux/v1/{business_id}/sandbox/appointments": "sandbox",
        "/ecom-ux/v1/{business_id}/appointment/{appointment_id}": "ux",
        "/oauth/token": "oauth",
        "/.well-known/jwks.json": "oauth",
        "/console/requests/{request_id}": "console",
        "/console": "console",
        "/healthz": "other",
        "/metrics": "other",
        # A prefix is a whole path segment.
        "/oauthx": "other",
        "/consoled": "other",
        metrics.UNMATCHED_ROUTE: metrics.UNMATCHED_ROUTE,
    }
    assert {route: rates.family_of(route) for route in expected} == expected
    assert [rates.status_class(s) for s in ("200", "303", "401", "502")] == [
        "2xx",
        "3xx",
        "4xx",
        "5xx",
    ]


def test_a_window_is_the_difference_of_two_readings() -> None:
    older = Reading(
        at(0),
        {("oauth", "2xx"): 10, ("oauth", "4xx"): 4, ("ux", "5xx"): 7, ("console", "2xx"): 3},
        {("nbn", "ok"): 5, ("nbn", "unavailable"): 1, ("csg", "refused"): 2},
    )
    newer = Reading(
        at(10),
        {
            ("oauth", "2xx"): 10,  # unchanged: nothing in the window
            ("oauth", "4xx"): 9,
            ("ux", "5xx"): 2,  # went down: the total was reset (a restart), counts from 0
            ("connect-appointments", "5xx"): 1,  # new series
            ("console", "3xx"): 20,
        },
        {
            ("nbn", "ok"): 8,
            ("nbn", "unavailable"): 2,
            ("nbn", "timeout"): 1,
            ("csg", "refused"): 6,
        },
    )
    win = rates.window(older, newer)
    assert win.requests == {
        ("oauth", "4xx"): 5,
        ("ux", "5xx"): 2,
        ("connect-appointments", "5xx"): 1,
        ("console", "3xx"): 20,
    }
    assert win.upstream == {("nbn", "ok"): 3, ("nbn", "unavailable"): 1, ("nbn", "timeout"): 1,
                            ("csg", "refused"): 4}  # fmt: skip
    assert win.minutes == 10
    assert (win.requests_in(), win.requests_in("5xx"), win.requests_in("2xx")) == (28, 3, 0)
    assert (win.upstream_calls(), win.upstream_errors()) == (9, 2)

    classes, families = rates.family_rows(win)
    # 2xx, 4xx and 5xx always; 3xx because a request had one.
    assert classes == ["2xx", "3xx", "4xx", "5xx"]
    # The API families in their fixed order.
    assert [row.family for row in families] == ["connect-appointments", "ux", "oauth", "console"]
    oauth = families[2]
    assert oauth.by_class == {"2xx": 0, "3xx": 0, "4xx": 5, "5xx": 0}
    assert (oauth.total, oauth.per_minute) == (5, 0.5)
    assert oauth.label == "OAuth"

    # A refusal is an answer: csg has no error; nbn 2 errors in 5 calls.
    assert rates.upstream_rows(win) == [
        rates.UpstreamRow("csg", calls=4, refused=4, errors=0, error_rate=0.0),
        rates.UpstreamRow("nbn", calls=5, refused=0, errors=2, error_rate=0.4),
    ]


def test_no_rate_of_nothing() -> None:
    assert rates.ratio(0, 0) is None
    assert rates.per_minute(5, 0.0) is None
    assert rates.per_minute(30, 2.0) == 15.0


def test_the_minutes_are_the_windows_between_successive_readings_newest_first() -> None:
    readings = [Reading(at(m), {("ux", "2xx"): 10 * m * m}, {}) for m in range(4)]
    minutes = rates.minutes_of(readings)
    assert [(w.start, w.end) for w in minutes] == [(at(2), at(3)), (at(1), at(2)), (at(0), at(1))]
    assert [w.requests_in() for w in minutes] == [50, 30, 10]
    assert rates.minutes_of(readings[:1]) == []


def test_the_note_says_when_the_history_is_shorter_than_an_hour() -> None:
    assert rates.history_note(at(0), at(18)) == "since 22:41 UTC (18 min)"
    assert rates.history_note(at(0), at(0.5)) == "since 22:41 UTC (0 min)"
    assert rates.history_note(at(0), at(60)) == "the last hour (since 22:41 UTC)"


def test_the_ring_keeps_an_hour_of_readings_and_no_more() -> None:
    taken: list[Reading] = []

    def read() -> Reading:
        taken.append(Reading(at(len(taken)), {}, {}))
        return taken[-1]

    history = RateHistory(read)
    for _ in range(100):
        history.sample()
    kept = history.readings()
    assert len(kept) == rates.RING_SIZE == 61
    assert kept == taken[-61:]
    # Sixty one-minute intervals: exactly the last hour.
    assert kept[-1].at - kept[0].at == timedelta(hours=1)


async def test_the_sampler_reads_at_start_then_on_each_tick_until_stopped() -> None:
    ticks: asyncio.Queue[None] = asyncio.Queue()
    waits: list[float] = []
    taken: list[Reading] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)
        await ticks.get()

    def read() -> Reading:  # runs in a thread, as the real reading does
        taken.append(Reading(at(len(taken)), {}, {}))
        return taken[-1]

    async def kept(n: int) -> None:
        deadline = time.monotonic() + 10
        while len(history.readings()) < n:
            assert time.monotonic() < deadline, f"no reading {n}"
            await asyncio.sleep(0.005)

    history = RateHistory(read, every=60.0, wait=wait)
    history.start()
    assert len(history.readings()) == 1 and history.running  # the first reading at once
    assert len(taken) == 1  # and no other until a minute has passed
    for n in (2, 3):
        ticks.put_nowait(None)
        await kept(n)
    assert history.readings() == taken
    assert 59 < waits[0] <= 60  # a minute after the first reading
    await history.stop()
    assert not history.running
    ticks.put_nowait(None)
    await asyncio.sleep(0)
    assert len(taken) == 3  # stopped: nothing read after stop


async def test_a_reading_is_what_the_collectors_count() -> None:
    before = rates.current_reading()
    metrics.observe_request("POST", "/oauth/token", 401, 0.01)
    metrics.observe_request("POST", "/oauth/token", 400, 0.01)
    metrics.observe_request(
        "GET", "/ecom-ux/v1/{business_id}/appointment/{appointment_id}", 200, 0.1
    )
    metrics.observe_upstream("csg", "cancel_appointment", metrics.UPSTREAM_TIMEOUT, 1.0)
    win = rates.window(before, rates.current_reading())
    assert win.requests == {("oauth", "4xx"): 2, ("ux", "2xx"): 1}
    assert win.upstream == {("csg", metrics.UPSTREAM_TIMEOUT): 1}


# The page over HTTP.


@asynccontextmanager
async def console_app(
    database_url: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (no worker) and an HTTP client of it: the tests trigger its readings."""
    settings = Settings(
        database_url=database_url, in_process_worker=False, log_level="WARNING", **overrides
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http,
    ):
        yield app, http


def cells(html: str, row_attr: str, key: str) -> dict[str, str]:
    """The cells (by their data-class or data-col) of the table row marked row_attr="key"."""
    found = re.search(rf'<tr {row_attr}="{re.escape(key)}">(.*?)</tr>', html, re.S)
    assert found, f"no row {row_attr}={key}"
    return dict(re.findall(r'data-(?:class|col)="([^"]+)">([^<]*)<', found.group(1)))


def value(html: str, col: str) -> str:
    found = re.search(rf'data-col="{col}">([^<(]*)', html)
    assert found, col
    return found.group(1).strip()


async def failed_tokens(http: httpx.AsyncClient, n: int) -> None:
    for _ in range(n):
        response = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("nobody", "wrong")
        )
        assert 400 <= response.status_code < 500, response.text


async def unavailable_appointment(database_url: str, tenant: str) -> int:
    """An appointment of the tenant whose nbn cannot be reached."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            [row] = (
                await session.execute(Tenant.__table__.select().where(Tenant.name == tenant))
            ).all()
            appointment = await create_appointment(
                session, tenant_id=row.id, scenario=scenarios.UPSTREAM_UNAVAILABLE
            )
            await session.commit()
            return appointment.id
    finally:
        await engine.dispose()


async def test_the_page_counts_api_requests_by_family_and_class_since_the_first_reading(
    console_db: str, operator: Operator
) -> None:
    tenant = f"ovw-{uuid.uuid4().hex[:6]}"
    made = await make_client(console_db, tenant=tenant, name="overview")
    appointment_id = await unavailable_appointment(console_db, tenant)
    # Requests counted by this process before this app's first reading: not in its window.
    async with console_app(console_db) as (_, http):
        await failed_tokens(http, 2)

    async with console_app(console_db) as (app, http):
        history: RateHistory = app.state.rate_history
        assert history.running
        await logged_in(http, operator)
        page = await http.get("/console")
        # One reading so far: no rate is claimed yet.
        assert 'id="rates-pending"' in page.text and 'id="requests-by-family"' not in page.text

        await failed_tokens(http, 3)
        token = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(made["client_id"], made["secret"]),
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", **VERSION_8}
        refused = await http.post(REQUEST, json={"appointmentId": appointment_id}, headers=headers)
        assert refused.status_code == 502, refused.text

        reading = history.sample()
        # One source of truth: what /metrics answers now is what was read.
        scrape = await http.get("/metrics")
        scraped = rates.reading_of(text_string_to_metric_families(scrape.text), reading.at)
        assert scraped.requests == reading.requests
        assert scraped.upstream == reading.upstream

        page = await http.get("/console")
        assert page.status_code == 200
        html = page.text
        first = history.readings()[0].at
        assert re.search(rf"Requests since {first:%H:%M} UTC \(\d+ min\)", html)
        assert cells(html, "data-family", "oauth") | {"per-minute": ""} == {
            "2xx": "1", "3xx": "0", "4xx": "3", "5xx": "0", "total": "4", "per-minute": "",
        }  # fmt: skip
        # The console's own pages under their full templates (/console/login, not /login):
        # the login form, its 303, and the overview twice.
        console_pages = cells(html, "data-family", "console")
        assert (console_pages["2xx"], console_pages["3xx"]) == ("3", "1")
        assert 'data-family="other"' not in html
        appointments = cells(html, "data-family", "connect-appointments")
        assert (appointments["5xx"], appointments["total"]) == ("1", "1")
        nbn = cells(html, "data-upstream", "nbn")
        assert (nbn["calls"], nbn["errors"], nbn["error-rate"]) == ("1", "1", "100.0 %")
        # The minute by minute table has the one interval.
        assert len(re.findall(r"<tr>\s*<td>\d\d:\d\d:\d\d</td>", html)) == 1
    # The app's shutdown stopped its sampler.
    assert not history.running


async def test_without_metrics_the_page_says_so(console_db: str, operator: Operator) -> None:
    async with console_app(console_db, metrics=False) as (app, http):
        assert getattr(app.state, "rate_history", None) is None
        await logged_in(http, operator)
        page = await http.get("/console")
        assert page.status_code == 200
        assert 'id="rates-off"' in page.text and 'id="requests-by-family"' not in page.text
        assert 'id="job-queue"' in page.text


async def test_the_job_queue_and_webhooks_come_from_the_database(
    console_db: str, operator: Operator
) -> None:
    url = console_db
    task = f"test.overview_{uuid.uuid4().hex[:6]}"
    # Two jobs due (one for 90 s), one scheduled for later: two waiting.
    query(
        url,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, status, scheduled_at)"
        " VALUES ('default', %s, 'todo', now() - interval '90 seconds'),"
        " ('default', %s, 'todo', now() - interval '5 seconds'),"
        " ('default', %s, 'todo', now() + interval '1 hour') RETURNING id",
        task,
        task,
        task,
    )
    # A worker alive and one whose heartbeat is an hour old, each running one job.
    [(alive,), (stalled,)] = query(
        url,
        "INSERT INTO procrastinate_workers (last_heartbeat)"
        " VALUES (now()), (now() - interval '1 hour') RETURNING id",
    )
    query(
        url,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, status, worker_id)"
        " VALUES ('default', %s, 'doing', %s), ('default', %s, 'doing', %s) RETURNING id",
        task,
        alive,
        task,
        stalled,
    )
    # Webhook attempts: in the last hour 2 delivered, a 500, a 410 and no answer at all; two
    # hours ago, a failure that is not in the hour. One delivery pending.
    [(tenant,)] = query(url, "INSERT INTO tenants (name) VALUES (%s) RETURNING id", task)
    [(subscription,)] = query(
        url,
        "INSERT INTO webhook_subscriptions (tenant_id, url, events, enabled, secret_sealed)"
        " VALUES (%s, 'https://example.com/hook', '{x}', true, 'sealed') RETURNING id",
        tenant,
    )
    [(event,)] = query(
        url,
        "INSERT INTO events (id, tenant_id, type, model, subject_id, payload)"
        " VALUES (gen_random_uuid(), %s, 'x', 'x', 1, '{}') RETURNING id",
        tenant,
    )
    [(delivery,)] = query(
        url,
        "INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, status, attempts)"
        " VALUES (%s, %s, %s, 'pending', 5) RETURNING id",
        tenant,
        subscription,
        event,
    )
    query(
        url,
        "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms)"
        " VALUES (%(d)s, now() - interval '1 minute', 200, 5),"
        " (%(d)s, now() - interval '30 minutes', 204, 5),"
        " (%(d)s, now() - interval '10 minutes', 500, 5),"
        " (%(d)s, now() - interval '20 minutes', 410, 5),"
        " (%(d)s, now() - interval '40 minutes', NULL, 5),"
        " (%(d)s, now() - interval '2 hours', 500, 5) RETURNING id".replace("%(d)s", "%s"),
        *[delivery] * 6,
    )
    # One appointment cancellation in progress among finished ones (the only one of the
    # module's database).
    ids = await seed_requests(url, f"{task}-requests", "overview", 3)
    query(
        url,
        "UPDATE appointment_cancellations SET status = 'IN_PROGRESS' WHERE id = %s RETURNING id",
        ids[0],
    )

    async with console_app(url) as (_, http):
        await logged_in(http, operator)
        html = (await http.get("/console")).text
    queue = {
        col: value(html, col)
        for col in ("waiting", "running", "workers-alive", "workers-stalled", "stalled-jobs")
    }
    assert queue == {
        "waiting": "2",
        "running": "2",
        "workers-alive": "1",
        "workers-stalled": "1",
        "stalled-jobs": "1",
    }
    assert 90 <= float(value(html, "oldest-waiting").removesuffix(" s")) < 200
    assert re.search(r"oldest heartbeat (\d+) s ago", html)
    waiting_row = re.search(rf'<tr data-task="{task}"><td>[^<]*</td><td class="num">(\d+)', html)
    assert waiting_row and waiting_row.group(1) == "2"
    assert value(html, "pending") == "1"
    assert (value(html, "attempts"), value(html, "failed")) == ("5", "3")
    assert value(html, "failure-rate") == "60.0 %"
    assert ">1 in progress</a>" in html
