"""The console's webhooks pages over HTTP (in-process app, no worker, a database of the
module's own): every tenant's subscriptions, enabled and disabled as the API's PATCH does it;
deliveries with their attempts; redelivering one as the API's redeliver does (a job deferred,
the delivery pending again); replaying the failed ones since a time; each action audited,
CSRF refused, stored HTML escaped, bad input a 4xx."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.console_support import XSS, Operator, console, logged_in, make_client, walk_pages
from tests.support import SUBSCRIPTIONS, count, query

HOOK = "http://127.0.0.1:9/hook"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


async def api_headers(http: httpx.AsyncClient, database_url: str, tenant: str) -> dict[str, str]:
    """A new client of the tenant (made if need be) and its token, as the API's headers."""
    made = await make_client(database_url, tenant=tenant, name="hooks")
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(made["client_id"], made["secret"]),
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", "X-API-VERSION": "8"}


async def subscribe(
    http: httpx.AsyncClient, headers: dict[str, str], description: str = "orders"
) -> int:
    body = {"url": HOOK, "events": ["appointment.cancelled"], "description": description}
    response = await http.post(SUBSCRIPTIONS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def tenant_of(database_url: str, subscription_id: int) -> int:
    return count(
        database_url,
        "SELECT tenant_id FROM webhook_subscriptions WHERE id = %s",
        subscription_id,
    )


def seed_deliveries(
    database_url: str, subscription_id: int, n: int, status: str, created_at: datetime
) -> list[int]:
    """n deliveries of new events to the subscription, in this status, created then."""
    tenant_id = tenant_of(database_url, subscription_id)
    rows = query(
        database_url,
        "WITH e AS (INSERT INTO events (id, tenant_id, type, model, subject_id, payload)"
        " SELECT gen_random_uuid(), %s, 'webhook.test', 'webhook', %s, '{}'"
        " FROM generate_series(1, %s) RETURNING id)"
        " INSERT INTO webhook_deliveries (tenant_id, subscription_id, event_id, status,"
        " attempts, created_at) SELECT %s, %s, id, %s, 1, %s FROM e RETURNING id",
        tenant_id,
        subscription_id,
        n,
        tenant_id,
        subscription_id,
        status,
        created_at,
    )
    return sorted(row[0] for row in rows)


def add_attempt(database_url: str, delivery_id: int, status_code: int | None, error: str) -> None:
    query(
        database_url,
        "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms, error)"
        " VALUES (%s, now(), %s, 1234, %s) RETURNING id",
        delivery_id,
        status_code,
        error,
    )


def delivery_status(database_url: str, delivery_id: int) -> str:
    [(status,)] = query(
        database_url, "SELECT status FROM webhook_deliveries WHERE id = %s", delivery_id
    )
    return str(status)


def jobs_of(database_url: str, delivery_id: int) -> int:
    """The attempt jobs waiting for a delivery (what the worker will run)."""
    return count(
        database_url,
        "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'webhooks.deliver'"
        " AND status = 'todo' AND (args->>'delivery_id')::int = %s",
        delivery_id,
    )


def subscription_state(database_url: str, subscription_id: int) -> tuple[Any, ...]:
    [row] = query(
        database_url,
        "SELECT enabled, disabled_reason, failing_since FROM webhook_subscriptions WHERE id = %s",
        subscription_id,
    )
    return row


def audited(database_url: str, action: str, target: str) -> list[Any]:
    """The `detail` of each audit row of this action on this target."""
    return [
        row[0]
        for row in query(
            database_url,
            "SELECT detail FROM operator_audit WHERE action = %s AND target = %s ORDER BY id",
            action,
            target,
        )
    ]


def new_tenant(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_no_webhook_page_or_action_without_a_session(
    console_db: str, operator: Operator
) -> None:
    async with console(console_db) as http:
        for path in ("/console/webhooks", "/console/webhooks/deliveries", "/console/deliveries/1"):
            response = await http.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/console/login?next="), path
        for path in (
            "/console/webhooks/subscriptions/1/disable",
            "/console/deliveries/1/redeliver",
            "/console/webhooks/replay",
        ):
            response = await http.post(path, data={"csrf": "x"})
            assert response.status_code == 303, path
            assert response.headers["location"] == "/console/login", path


async def test_enable_and_disable_have_the_effect_of_the_api_patch(
    console_db: str, operator: Operator
) -> None:
    tenant = new_tenant("hooks")
    async with console(console_db, webhook_allow_insecure=True) as http:
        headers = await api_headers(http, console_db, tenant)
        mine, twin = await subscribe(http, headers), await subscribe(http, headers)
        # Both disabled by failures, as deliveries leave them.
        for sid in (mine, twin):
            query(
                console_db,
                "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = 'HTTP 410',"
                " failing_since = now() WHERE id = %s RETURNING id",
                sid,
            )
        token = await logged_in(http, operator)
        listed = await http.get("/console/webhooks", params={"tenant": tenant})
        assert listed.status_code == 200
        assert "disabled: HTTP 410" in listed.text and HOOK in listed.text
        assert f'action="/console/webhooks/subscriptions/{mine}/enable"' in listed.text

        enabled = await http.post(
            f"/console/webhooks/subscriptions/{mine}/enable",
            data={"csrf": token, "next": f"/console/webhooks?tenant={tenant}"},
        )
        assert enabled.status_code == 303
        assert enabled.headers["location"] == f"/console/webhooks?tenant={tenant}"
        patched = await http.patch(
            f"{SUBSCRIPTIONS}/{twin}", json={"enabled": True}, headers=headers
        )
        assert patched.status_code == 200, patched.text
        assert subscription_state(console_db, mine) == (True, None, None)
        assert subscription_state(console_db, mine) == subscription_state(console_db, twin)

        disabled = await http.post(
            f"/console/webhooks/subscriptions/{mine}/disable", data={"csrf": token}
        )
        assert disabled.status_code == 303 and disabled.headers["location"] == "/console/webhooks"
        patched = await http.patch(
            f"{SUBSCRIPTIONS}/{twin}", json={"enabled": False}, headers=headers
        )
        assert patched.status_code == 200
        assert subscription_state(console_db, mine) == subscription_state(console_db, twin)
        assert subscription_state(console_db, mine)[:2] == (False, "disabled by its owner")
        # The subscription's owner sees the change through the API.
        shown = await http.get(f"{SUBSCRIPTIONS}/{mine}", headers=headers)
        assert shown.json()["enabled"] is False

        # Unknown or malformed ids change nothing; an off-site next is not followed.
        assert (
            await http.post("/console/webhooks/subscriptions/999999/enable", data={"csrf": token})
        ).status_code == 404
        assert (
            await http.post("/console/webhooks/subscriptions/x/enable", data={"csrf": token})
        ).status_code == 400
        offsite = await http.post(
            f"/console/webhooks/subscriptions/{mine}/enable",
            data={"csrf": token, "next": "https://evil.example/console"},
        )
        assert offsite.headers["location"] == "/console/webhooks"
    assert (
        audited(console_db, "webhook.enable", f"subscription:{mine}")
        == [{"tenant_id": tenant_of(console_db, mine)}] * 2
    )
    assert len(audited(console_db, "webhook.disable", f"subscription:{mine}")) == 1


async def test_csrf_missing_or_wrong_changes_nothing(console_db: str, operator: Operator) -> None:
    tenant = new_tenant("csrf")
    async with console(console_db, webhook_allow_insecure=True) as http:
        sid = await subscribe(http, await api_headers(http, console_db, tenant))
        [failed] = seed_deliveries(console_db, sid, 1, "failed", datetime.now(UTC))
        token = await logged_in(http, operator)
        since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
        for path, data in (
            (f"/console/webhooks/subscriptions/{sid}/disable", {}),
            (f"/console/deliveries/{failed}/redeliver", {}),
            ("/console/webhooks/replay", {"tenant": tenant, "since": since}),
        ):
            assert (await http.post(path, data=data)).status_code == 403, path
            wrong = {**data, "csrf": token[:-1] + ("x" if token[-1] != "x" else "y")}
            assert (await http.post(path, data=wrong)).status_code == 403, path
    assert subscription_state(console_db, sid)[0] is True
    assert delivery_status(console_db, failed) == "failed"
    assert jobs_of(console_db, failed) == 0
    assert (
        count(
            console_db,
            "SELECT count(*) FROM operator_audit WHERE target IN (%s, %s, %s)",
            f"subscription:{sid}",
            f"delivery:{failed}",
            f"tenant:{tenant}",
        )
        == 0
    )


async def test_a_delivery_shows_its_attempts_and_is_redelivered_as_the_api_does(
    console_db: str, operator: Operator
) -> None:
    tenant = new_tenant("redeliver")
    async with console(console_db, webhook_allow_insecure=True) as http:
        headers = await api_headers(http, console_db, tenant)
        sid = await subscribe(http, headers)
        [delivery] = seed_deliveries(console_db, sid, 1, "failed", datetime.now(UTC))
        add_attempt(console_db, delivery, 500, "HTTP 500 from the receiver")
        add_attempt(console_db, delivery, None, "connection refused")
        token = await logged_in(http, operator)
        page = await http.get(f"/console/deliveries/{delivery}")
        assert page.status_code == 200
        assert "HTTP 500 from the receiver" in page.text and "connection refused" in page.text
        assert "<td>500</td>" in page.text and "1234" in page.text and tenant in page.text
        assert f'action="/console/deliveries/{delivery}/redeliver"' in page.text
        assert jobs_of(console_db, delivery) == 0

        done = await http.post(
            f"/console/deliveries/{delivery}/redeliver",
            data={"csrf": token, "next": "/console/requests/12"},
        )
        assert done.status_code == 303 and done.headers["location"] == "/console/requests/12"
        # As the API's redeliver: pending again, one attempt's job waiting for the worker.
        assert delivery_status(console_db, delivery) == "pending"
        assert jobs_of(console_db, delivery) == 1
        # The owner's delivery log says the same.
        log = await http.get(f"{SUBSCRIPTIONS}/{sid}/deliveries", headers=headers)
        assert [(d["id"], d["status"]) for d in log.json()] == [(delivery, "pending")]
        # A pending delivery has its attempt queued already: no second job.
        again = await http.post(f"/console/deliveries/{delivery}/redeliver", data={"csrf": token})
        assert again.status_code == 303
        assert again.headers["location"] == f"/console/deliveries/{delivery}"
        assert jobs_of(console_db, delivery) == 1
        for evil in ("https://evil.example/", "//evil.example/console", "/consolex"):
            query(
                console_db,
                "UPDATE webhook_deliveries SET status = 'failed' WHERE id = %s RETURNING id",
                delivery,
            )
            off = await http.post(
                f"/console/deliveries/{delivery}/redeliver", data={"csrf": token, "next": evil}
            )
            assert off.headers["location"] == f"/console/deliveries/{delivery}", evil

        # A disabled subscription's delivery is refused (422), changing nothing.
        query(
            console_db,
            "UPDATE webhook_deliveries SET status = 'failed' WHERE id = %s RETURNING id",
            delivery,
        )
        patched = await http.patch(
            f"{SUBSCRIPTIONS}/{sid}", json={"enabled": False}, headers=headers
        )
        assert patched.status_code == 200
        jobs = jobs_of(console_db, delivery)
        refused = await http.post(f"/console/deliveries/{delivery}/redeliver", data={"csrf": token})
        assert refused.status_code == 422 and "disabled" in refused.text
        assert delivery_status(console_db, delivery) == "failed"
        assert jobs_of(console_db, delivery) == jobs

        for path, status in (
            ("/console/deliveries/999999999/redeliver", 404),
            ("/console/deliveries/abc/redeliver", 400),
        ):
            assert (await http.post(path, data={"csrf": token})).status_code == status, path
        assert (await http.get("/console/deliveries/999999999")).status_code == 404
        assert (await http.get("/console/deliveries/abc")).status_code == 400
    # Two redeliveries that queued a job, one that found it queued, three off-site: all audited;
    # the refused one not.
    details = audited(console_db, "webhook.redeliver", f"delivery:{delivery}")
    assert len(details) == 5
    assert details[0] == {"tenant_id": tenant_of(console_db, sid), "subscription_id": sid}


async def test_replay_sends_again_the_failed_deliveries_since_a_time(
    console_db: str, operator: Operator
) -> None:
    tenant, other = new_tenant("replay"), new_tenant("bystander")
    now = datetime.now(UTC)
    since = now - timedelta(hours=1)
    async with console(console_db, webhook_allow_insecure=True) as http:
        first = await subscribe(http, await api_headers(http, console_db, tenant))
        second = await subscribe(http, await api_headers(http, console_db, tenant))
        elsewhere = await subscribe(http, await api_headers(http, console_db, other))
        recent = seed_deliveries(console_db, first, 2, "failed", now)
        recent_second = seed_deliveries(console_db, second, 1, "failed", now)
        old = seed_deliveries(console_db, first, 1, "failed", since - timedelta(minutes=1))
        succeeded = seed_deliveries(console_db, first, 1, "succeeded", now)
        foreign = seed_deliveries(console_db, elsewhere, 1, "failed", now)
        token = await logged_in(http, operator)
        form = await http.get("/console/webhooks/deliveries")
        assert 'type="datetime-local" name="since"' in form.text and "(UTC)" in form.text

        # One subscription: its recent failed deliveries only.
        by_subscription = await http.post(
            "/console/webhooks/replay",
            data={
                "csrf": token,
                "subscription": str(second),
                "since": since.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        assert by_subscription.status_code == 200
        assert "Queued 1 failed delivery" in by_subscription.text
        assert [delivery_status(console_db, d) for d in recent_second] == ["pending"]
        assert [delivery_status(console_db, d) for d in recent] == ["failed", "failed"]

        # A tenant: every subscription's, since then (the datetime-local value read as UTC).
        by_tenant = await http.post(
            "/console/webhooks/replay",
            data={"csrf": token, "tenant": tenant, "since": since.strftime("%Y-%m-%dT%H:%M")},
        )
        assert by_tenant.status_code == 200
        assert "Queued 2 failed deliveries" in by_tenant.text
        assert [delivery_status(console_db, d) for d in recent] == ["pending", "pending"]
        assert all(jobs_of(console_db, d) == 1 for d in recent + recent_second)
        assert delivery_status(console_db, old[0]) == "failed"
        assert delivery_status(console_db, succeeded[0]) == "succeeded"
        assert delivery_status(console_db, foreign[0]) == "failed"
        assert jobs_of(console_db, old[0]) == jobs_of(console_db, foreign[0]) == 0

        for data, status in (
            ({"since": since.isoformat()}, 400),  # neither tenant nor subscription
            ({"tenant": tenant, "subscription": str(first), "since": since.isoformat()}, 400),
            ({"tenant": tenant, "since": "yesterday"}, 400),
            ({"tenant": tenant, "since": ""}, 400),
            ({"subscription": "x1", "since": since.isoformat()}, 400),
            ({"tenant": "no-such-tenant", "since": since.isoformat()}, 404),
            ({"subscription": "999999", "since": since.isoformat()}, 404),
            ({"tenant": "x" * 101, "since": since.isoformat()}, 400),
        ):
            response = await http.post("/console/webhooks/replay", data={"csrf": token, **data})
            assert response.status_code == status, (data, response.text)
    [by_sub] = audited(console_db, "webhook.replay", f"subscription:{second}")
    assert by_sub["count"] == 1
    [by_ten] = audited(console_db, "webhook.replay", f"tenant:{tenant}")
    assert by_ten["count"] == 2
    assert datetime.fromisoformat(by_ten["since"]) == since.replace(second=0, microsecond=0)


async def test_lists_are_paginated_by_keyset_and_filtered(
    console_db: str, operator: Operator
) -> None:
    tenant = new_tenant("pages")
    async with console(console_db, webhook_allow_insecure=True) as http:
        sid = await subscribe(http, await api_headers(http, console_db, tenant))
        failed = seed_deliveries(console_db, sid, 70, "failed", datetime.now(UTC))
        succeeded = seed_deliveries(console_db, sid, 5, "succeeded", datetime.now(UTC))
        await logged_in(http, operator)
        listed = re.compile(r'href="/console/deliveries/(\d+)"')
        url = f"/console/webhooks/deliveries?subscription={sid}&status=failed"
        seen, _ = await walk_pages(http, url, listed)
        assert seen == sorted(failed, reverse=True)
        every = await http.get("/console/webhooks/deliveries", params={"subscription": str(sid)})
        shown = re.findall(r'href="/console/deliveries/(\d+)"', every.text)
        assert [int(i) for i in shown[:5]] == sorted(succeeded, reverse=True)
        none = await http.get(
            "/console/webhooks/deliveries", params={"subscription": str(sid), "status": "pending"}
        )
        assert "No delivery matches." in none.text
        subscriptions = await http.get("/console/webhooks", params={"tenant": tenant})
        assert f'href="/console/webhooks/deliveries?subscription={sid}"' in subscriptions.text
        other = await http.get("/console/webhooks", params={"tenant": "no-such-tenant"})
        assert "No subscription matches." in other.text and HOOK not in other.text
        for path, params in (
            ("/console/webhooks/deliveries", {"status": "weird"}),
            ("/console/webhooks/deliveries", {"subscription": "x"}),
            ("/console/webhooks/deliveries", {"before": "-1"}),
            ("/console/webhooks", {"before": "x"}),
            ("/console/webhooks", {"tenant": "t" * 201}),
        ):
            assert (await http.get(path, params=params)).status_code == 400, params


async def test_stored_html_is_escaped(console_db: str, operator: Operator) -> None:
    tenant = f"{XSS}-{uuid.uuid4().hex[:6]}"
    async with console(console_db, webhook_allow_insecure=True) as http:
        sid = await subscribe(http, await api_headers(http, console_db, tenant), description=XSS)
        [delivery] = seed_deliveries(console_db, sid, 1, "failed", datetime.now(UTC))
        add_attempt(console_db, delivery, None, XSS)
        query(
            console_db,
            "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = %s"
            " WHERE id = %s RETURNING id",
            XSS,
            sid,
        )
        await logged_in(http, operator)
        pages = [
            await http.get("/console/webhooks", params={"tenant": tenant}),
            await http.get("/console/webhooks/deliveries", params={"subscription": str(sid)}),
            await http.get(f"/console/deliveries/{delivery}"),
        ]
        for page in pages:
            assert page.status_code == 200
            assert XSS not in page.text
            assert ESCAPED in page.text
        # The description, the disabled reason and the tenant on the list; the attempt's error.
        assert pages[0].text.count(ESCAPED) >= 3
        assert f"<td>{ESCAPED}</td>" in pages[2].text
