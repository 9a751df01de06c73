"""The console's service cancellation pages (/console/services), over HTTP against an
in-process app on a migrated database of its own: keyset pages under every filter (tenant,
status, business day, id), another tenant's rows kept out, a cancellation's timeline (its
events, their deliveries and attempts, a Redeliver form each, never another cancellation's),
stored HTML escaped, no page without a session, bad input a 4xx."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from cancelgate.appointments.service import SUBMIT_TASK as APPOINTMENT_TASK
from cancelgate.services.scheduling import SUBMIT_TASK
from tests.api.console_support import XSS, Operator, console, logged_in, make_client, walk_pages
from tests.support import query

ESCAPED_XSS = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
LINK = re.compile(r'href="/console/services/(\d+)"')


@dataclass
class Tenant:
    name: str
    id: int
    client_pk: int
    client_id: str


async def new_tenant(url: str, name: str, client_name: str = "svc client") -> Tenant:
    made = await make_client(url, tenant=name, name=client_name)
    [(tenant_id, client_pk)] = query(
        url, "SELECT tenant_id, id FROM api_clients WHERE client_id = %s", made["client_id"]
    )
    return Tenant(name, tenant_id, client_pk, made["client_id"])


def add_service(url: str, tenant: Tenant) -> int:
    nbn_id = "AVC" + uuid.uuid4().hex[:12].upper()
    [(service_id,)] = query(
        url,
        "INSERT INTO services (tenant_id, nbn_service_id, status, eligible_for_cancellation)"
        " VALUES (%s, %s, 'ACTIVE', true) RETURNING id",
        tenant.id,
        nbn_id,
    )
    return int(service_id)


def add_cancellations(
    url: str,
    tenant: Tenant,
    service_id: int,
    n: int,
    *,
    status: str = "ABORTED",
    requested_on: datetime | None = None,
    name: str = "API User",
    error: str | None = None,
) -> list[int]:
    """n closed cancellations of one service (no open one: the unique index allows many)."""
    rows = query(
        url,
        "INSERT INTO service_cancellations (tenant_id, service_id, status, request_date,"
        " requested_on, requested_by_id, requested_by_name, requested_by_email, error_detail,"
        " submission, attempts, request_key)"
        " SELECT %s, %s, %s, DATE '2026-12-24', %s, %s, %s, 'api@example.com', %s, 1, 0,"
        " gen_random_uuid() FROM generate_series(1, %s) RETURNING id",
        tenant.id,
        service_id,
        status,
        requested_on or datetime.now(UTC),
        tenant.client_pk,
        name,
        error,
        n,
    )
    return sorted(int(row[0]) for row in rows)


def add_event(url: str, tenant: Tenant, model: str, subject_id: int, requested_on: str) -> str:
    payload = json.dumps({"serviceId": subject_id, "requestedOn": requested_on})
    [(event_id,)] = query(
        url,
        "INSERT INTO events (id, tenant_id, type, model, subject_id, payload)"
        " VALUES (gen_random_uuid(), %s, 'service.cancelled', %s, %s, %s::json) RETURNING id",
        tenant.id,
        model,
        subject_id,
        payload,
    )
    return str(event_id)


def add_delivery(
    url: str, tenant: Tenant, event_id: str, attempts: list[tuple[int, int, str | None]]
) -> int:
    [(subscription_id,)] = query(
        url,
        "INSERT INTO webhook_subscriptions (tenant_id, url, events, enabled, secret_sealed)"
        " VALUES (%s, %s, ARRAY['service.cancelled'], true, 'sealed') RETURNING id",
        tenant.id,
        f"https://hooks.example/{XSS}",
    )
    [(delivery_id,)] = query(
        url,
        "INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, status, attempts)"
        " VALUES (%s, %s, %s, 'failed', %s) RETURNING id",
        tenant.id,
        subscription_id,
        event_id,
        len(attempts),
    )
    for status_code, latency_ms, error in attempts:
        query(
            url,
            "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms,"
            " error) VALUES (%s, now(), %s, %s, %s) RETURNING id",
            delivery_id,
            status_code,
            latency_ms,
            error,
        )
    return int(delivery_id)


def add_job(url: str, task: str, cancellation_id: int, error: str) -> int:
    """A finished job of a task for a cancellation: a first attempt that asked for a retry
    (its error and upstream call kept), then one that succeeded."""
    [(job_id,)] = query(
        url,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args, status, attempts)"
        " VALUES ('default', %s, %s::jsonb, 'succeeded', 2) RETURNING id",
        task,
        json.dumps({"cancellation_id": cancellation_id, "submission": 1}),
    )
    query(
        url,
        "INSERT INTO procrastinate_events (job_id, type, at)"
        " SELECT %s, t::procrastinate_job_event_type, now() + n * interval '1 second'"
        " FROM unnest(ARRAY['started', 'deferred_for_retry',"
        " 'started', 'succeeded']) WITH ORDINALITY AS e(t, n) RETURNING id",
        job_id,
    )
    upstream = [{"upstream": "nbn", "operation": "cancel_service", "outcome": "error", "ms": 12}]
    query(
        url,
        "INSERT INTO job_attempt_errors (job_id, task, attempt, outcome, error, upstream)"
        " VALUES (%s, %s, 1, 'retry', %s, %s::jsonb) RETURNING id",
        job_id,
        task,
        error,
        json.dumps(upstream),
    )
    return int(job_id)


async def walk(http: httpx.AsyncClient, url: str) -> tuple[list[int], int]:
    """Every service cancellation listed from `url` on, and how many pages."""
    return await walk_pages(http, url, LINK)


async def test_no_page_without_a_session(console_db: str, operator: Operator) -> None:
    async with console(console_db) as http:
        for path in (
            "/console/services",
            "/console/services?status=ABORTED",
            "/console/services/1",
        ):
            response = await http.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/console/login?next=" + quote(path, safe=""), (
                path
            )


async def test_keyset_pages_and_filters(console_db: str, operator: Operator) -> None:
    mine = await new_tenant(console_db, f"svc-{uuid.uuid4().hex[:6]}")
    other = await new_tenant(console_db, f"svc-other-{uuid.uuid4().hex[:6]}")
    service = add_service(console_db, mine)
    aborted = add_cancellations(console_db, mine, service, 115)
    rejected = add_cancellations(console_db, mine, service, 5, status="REJECTED")
    # Interleaved with mine: a tenant filter that leaked would show them.
    theirs = add_cancellations(console_db, other, add_service(console_db, other), 7)
    more_mine = add_cancellations(console_db, mine, service, 3)
    every_mine = aborted + rejected + more_mine
    async with console(console_db) as http:
        await logged_in(http, operator)
        seen, pages = await walk(http, f"/console/services?tenant={mine.name}")
        assert pages == 3  # 123 rows: 50, 50, 23
        assert seen == sorted(every_mine, reverse=True)
        seen, _ = await walk(http, f"/console/services?tenant={other.name}")
        assert seen == sorted(theirs, reverse=True)
        # The filters are kept on the next page's link (status: lower case is accepted).
        seen, _ = await walk_pages(
            http, f"/console/services?tenant={mine.name}&status=rejected", LINK
        )
        assert seen == sorted(rejected, reverse=True)
        seen, _ = await walk_pages(
            http, f"/console/services?status=REJECTED&before={rejected[2]}", LINK
        )
        assert seen == sorted(rejected[:2], reverse=True)
        one = await http.get("/console/services", params={"id": str(aborted[7])})
        assert [int(i) for i in LINK.findall(one.text)] == [aborted[7]]
        none = await http.get(
            "/console/services", params={"tenant": other.name, "id": str(aborted[7])}
        )
        assert "No service cancellation matches." in none.text
        unknown = await http.get("/console/services", params={"tenant": "no-such-tenant"})
        assert unknown.status_code == 200 and not LINK.findall(unknown.text)


async def test_the_day_filter_is_a_business_day(console_db: str, operator: Operator) -> None:
    """A day is 00:00 to 24:00 in the business time zone (Sydney: UTC+11 in March 2020)."""
    tenant = await new_tenant(console_db, f"svc-day-{uuid.uuid4().hex[:6]}")
    service = add_service(console_db, tenant)

    def at(instant: str) -> int:
        [found] = add_cancellations(
            console_db, tenant, service, 1, requested_on=datetime.fromisoformat(instant)
        )
        return found

    inside = [at("2020-03-04T00:00:00+11:00"), at("2020-03-04T10:00:00+11:00")]
    inside.append(at("2020-03-04T23:59:59+11:00"))
    # The 4th in UTC, the 5th in Sydney; and the 3rd in UTC: a UTC day would get both wrong.
    at("2020-03-05T00:30:00+11:00")
    at("2020-03-03T23:59:59+11:00")
    async with console(console_db) as http:
        await logged_in(http, operator)
        seen, _ = await walk_pages(
            http, f"/console/services?tenant={tenant.name}&day=2020-03-04", LINK
        )
        assert seen == sorted(inside, reverse=True)
        page = await http.get("/console/services", params={"day": "2020-03-04"})
        assert 'value="2020-03-04"' in page.text


async def test_bad_input_is_a_4xx(console_db: str, operator: Operator) -> None:
    async with console(console_db) as http:
        await logged_in(http, operator)
        for path, status in (
            ("/console/services/abc", 400),
            ("/console/services/-1", 400),
            ("/console/services/99999999999", 400),
            ("/console/services/999999999", 404),
            ("/console/services?id=x", 400),
            ("/console/services?id=2147483648", 400),
            ("/console/services?before=x", 400),
            ("/console/services?day=yesterday", 400),
            ("/console/services?day=2020-02-30", 400),
            ("/console/services?day=2020-3-4", 400),
            ("/console/services?day=0001-01-01", 400),
            ("/console/services?day=9999-12-31", 400),
            ("/console/services?tenant=" + "t" * 201, 400),
        ):
            assert (await http.get(path)).status_code == status, path


async def test_the_timeline_shows_this_cancellation_escaped(
    console_db: str, operator: Operator
) -> None:
    tenant = await new_tenant(console_db, f"{XSS}-{uuid.uuid4().hex[:6]}", f"name {XSS}")
    service = add_service(console_db, tenant)
    [earlier] = add_cancellations(
        console_db,
        tenant,
        service,
        1,
        status="REJECTED",
        requested_on=datetime.fromisoformat("2026-11-20T01:02:03.500+00:00"),
    )
    [this] = add_cancellations(
        console_db,
        tenant,
        service,
        1,
        status="COMPLETED",
        requested_on=datetime.fromisoformat("2026-11-30T04:05:06.789+00:00"),
        name=f"requester {XSS}",
        error=f"failed {XSS}",
    )
    # Events carry the instant their cancellation was requested, as the API writes it.
    earlier_event = add_event(console_db, tenant, "service", service, "2026-11-20T01:02:03Z")
    this_event = add_event(console_db, tenant, "service", service, "2026-11-30T04:05:06Z")
    # The same instant, but of another service, and of an appointment with the same id.
    stranger = add_event(console_db, tenant, "service", service + 1000, "2026-11-30T04:05:06Z")
    appointment = add_event(console_db, tenant, "appointment", service, "2026-11-30T04:05:06Z")
    earlier_delivery = add_delivery(console_db, tenant, earlier_event, [(410, 5, None)])
    this_delivery = add_delivery(
        console_db, tenant, this_event, [(500, 1234, f"refused {XSS}"), (502, 4321, None)]
    )
    # The submission job's attempts: this cancellation's, not the earlier one's, nor those of
    # an appointment cancellation's job that has the same id.
    add_job(console_db, SUBMIT_TASK, this, f"nbn down {XSS}")
    add_job(console_db, SUBMIT_TASK, earlier, "earlier job error")
    add_job(console_db, APPOINTMENT_TASK, this, "appointment job error")
    async with console(console_db) as http:
        csrf = await logged_in(http, operator)
        page = await http.get(f"/console/services/{this}")
        assert page.status_code == 200, page.text
        text = page.text
        assert this_event in text and earlier_event not in text
        assert stranger not in text and appointment not in text
        assert f"Delivery {this_delivery} " in text and f"Delivery {earlier_delivery} " not in text
        assert "1234" in text and "4321" in text and "refused " + ESCAPED_XSS in text
        assert "COMPLETED" in text
        assert "nbn down " + ESCAPED_XSS in text and "cancel_service: error in 12 ms" in text
        assert "earlier job error" not in text and "appointment job error" not in text
        # A Redeliver form per delivery, with the session's CSRF token and the way back here.
        form = re.search(
            rf'<form method="post" action="/console/deliveries/{this_delivery}/redeliver"'
            r'[^>]*>\s*<input type="hidden" name="csrf" value="([^"]*)">'
            r'\s*<input type="hidden" name="next" value="([^"]*)">\s*<button[^>]*>Redeliver<',
            text,
        )
        assert form is not None, text
        assert form.groups() == (csrf, f"/console/services/{this}")
        # The service's other cancellation is linked, and has its own timeline.
        assert f'href="/console/services/{earlier}"' in text
        before = await http.get(f"/console/services/{earlier}")
        assert earlier_event in before.text and this_event not in before.text
        assert "earlier job error" in before.text and "nbn down" not in before.text
        assert f"Delivery {earlier_delivery} " in before.text

        listed = await http.get("/console/services", params={"tenant": tenant.name})
        assert [int(i) for i in LINK.findall(listed.text)] == [this, earlier]
        for shown in (page, listed):
            assert XSS not in shown.text
            assert ESCAPED_XSS in shown.text
        for part in ("requester ", "failed ", "name "):
            assert part + ESCAPED_XSS in text, part
