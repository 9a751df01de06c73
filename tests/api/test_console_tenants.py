"""The console's tenants and clients pages over HTTP, against an in-process app on a migrated
database of their own: a tenant created with its first API client, another client added, a
secret rotated (each secret shown once, never cached, never stored or audited in clear, and
working at /oauth/token), duplicate names and bad input refused without writing, CSRF and a
session required, stored HTML escaped, tenants paginated by keyset."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from tests.api.console_support import XSS, Operator, console, logged_in, make_client, walk_pages
from tests.support import count, query

GRANT = {"grant_type": "client_credentials"}
# /oauth/token is asked many times here: the default token rate limit would refuse some.
LIMITS: dict[str, Any] = {"rate_limit_tokens_per_minute": 1000, "rate_limit_tokens_burst": 1000}
# How many of this page's actions the audit log holds (logins are audited too).
ACTIONS_AUDITED = (
    "SELECT count(*) FROM operator_audit"
    " WHERE action IN ('tenant.create', 'client.create', 'client.rotate_secret')"
)
ESCAPED_XSS = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def shown(html: str, label: str) -> str:
    """A value of the page that shows a new secret once."""
    found = re.search(rf"<dt>{label}</dt><dd><code>([^<]+)</code></dd>", html)
    assert found, html
    return found.group(1)


def tenant_id(database_url: str, name: str) -> int:
    [(found,)] = query(database_url, "SELECT id FROM tenants WHERE name = %s", name)
    return int(found)


def audit_rows(database_url: str, action: str, target: str) -> list[tuple[Any, ...]]:
    return query(
        database_url,
        "SELECT operator_id, detail::text FROM operator_audit WHERE action = %s AND target = %s",
        action,
        target,
    )


async def token_status(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    return (await http.post("/oauth/token", data=GRANT, auth=(client_id, secret))).status_code


async def test_no_page_or_action_without_a_session(console_db: str, operator: Operator) -> None:
    made = await make_client(console_db, tenant=f"nos-{uuid.uuid4().hex[:6]}", name="nos")
    tenants_before = count(console_db, "SELECT count(*) FROM tenants")
    async with console(console_db, **LIMITS) as http:
        for path in ("/console/tenants", "/console/tenants/1", "/console/tenants?before=5"):
            response = await http.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2F")
        posts = [
            ("/console/tenants", {"name": "nos-tenant", "display_name": "x"}),
            ("/console/tenants/1/clients", {"display_name": "x"}),
            (f"/console/clients/{made['client_id']}/rotate", {}),
        ]
        for path, data in posts:
            response = await http.post(path, data={**data, "csrf": "x"})
            assert response.status_code == 303, path
            assert response.headers["location"] == "/console/login"
        assert await token_status(http, made["client_id"], made["secret"]) == 200
    assert count(console_db, "SELECT count(*) FROM tenants") == tenants_before


async def test_csrf_missing_or_wrong_is_refused_and_writes_nothing(
    console_db: str, operator: Operator
) -> None:
    made = await make_client(console_db, tenant=f"csrf-{uuid.uuid4().hex[:6]}", name="csrf")
    [(number,)] = query(
        console_db, "SELECT tenant_id FROM api_clients WHERE client_id = %s", made["client_id"]
    )
    name = f"csrf-new-{uuid.uuid4().hex[:6]}"
    async with console(console_db, **LIMITS) as http:
        token = await logged_in(http, operator)
        for form in ({}, {"csrf": token[:-1] + ("x" if token[-1] != "x" else "y")}):
            create = await http.post(
                "/console/tenants", data={**form, "name": name, "display_name": "c"}
            )
            assert create.status_code == 403
            rotate = await http.post(f"/console/clients/{made['client_id']}/rotate", data=form)
            assert rotate.status_code == 403
            assert "client_secret" not in rotate.text
            add = await http.post(
                f"/console/tenants/{number}/clients", data={**form, "display_name": "c"}
            )
            assert add.status_code == 403
        # The old secret still works: nothing was rotated.
        assert await token_status(http, made["client_id"], made["secret"]) == 200
    assert count(console_db, "SELECT count(*) FROM tenants WHERE name = %s", name) == 0
    assert count(console_db, "SELECT count(*) FROM api_clients WHERE tenant_id = %s", number) == 1


async def test_a_tenant_is_created_with_a_working_client_shown_once_and_audited(
    console_db: str, operator: Operator
) -> None:
    name = f"acme-{uuid.uuid4().hex[:6]}"
    async with console(console_db, **LIMITS) as http:
        token = await logged_in(http, operator)
        form = await http.get("/console/tenants")
        assert form.status_code == 200 and 'action="/console/tenants"' in form.text
        done = await http.post(
            "/console/tenants",
            data={"csrf": token, "name": f"  {name} ", "display_name": "Billing", "email": ""},
        )
        assert done.status_code == 200, done.text
        assert "no-store" in done.headers["cache-control"]
        client_id, secret = shown(done.text, "client_id"), shown(done.text, "client_secret")
        number = tenant_id(console_db, name)  # stored trimmed
        assert f'href="/console/tenants/{number}"' in done.text
        # The client works at the API, as the tenant's.
        assert await token_status(http, client_id, secret) == 200
        assert await token_status(http, client_id, secret + "x") == 401
        [(owner, stored, display, email)] = query(
            console_db,
            "SELECT tenant_id, secret_hash, display_name, email FROM api_clients"
            " WHERE client_id = %s",
            client_id,
        )
        assert (owner, display, email) == (number, "Billing", "api@example.com")
        assert secret not in stored
        listed = await http.get("/console/tenants")
        assert f'<a href="/console/tenants/{number}">{name}</a>' in listed.text
        page = await http.get(f"/console/tenants/{number}")
        assert page.status_code == 200 and client_id in page.text and secret not in page.text
    [(by, detail)] = audit_rows(console_db, "tenant.create", f"tenant:{number}")
    assert by is not None and name in detail
    [(by, detail)] = audit_rows(console_db, "client.create", f"client:{client_id}")
    assert by is not None and name in detail and "Billing" in detail
    assert (
        count(
            console_db,
            "SELECT count(*) FROM operator_audit WHERE detail::text LIKE %s",
            f"%{secret}%",
        )
        == 0
    )


async def test_a_client_is_added_to_a_tenant(console_db: str, operator: Operator) -> None:
    first = await make_client(console_db, tenant=f"add-{uuid.uuid4().hex[:6]}", name="first")
    [(number,)] = query(
        console_db,
        "SELECT tenant_id FROM api_clients WHERE client_id = %s",
        first["client_id"],
    )
    async with console(console_db, **LIMITS) as http:
        token = await logged_in(http, operator)
        done = await http.post(
            f"/console/tenants/{number}/clients",
            data={"csrf": token, "display_name": "Second", "email": "ops@acme.example"},
        )
        assert done.status_code == 200, done.text
        assert "no-store" in done.headers["cache-control"]
        client_id, secret = shown(done.text, "client_id"), shown(done.text, "client_secret")
        assert await token_status(http, client_id, secret) == 200
        page = await http.get(f"/console/tenants/{number}")
        assert client_id in page.text and first["client_id"] in page.text
        # Another tenant's page does not list it.
        other = await make_client(console_db, tenant=f"oth-{uuid.uuid4().hex[:6]}", name="o")
        [(other_tenant,)] = query(
            console_db, "SELECT tenant_id FROM api_clients WHERE client_id = %s", other["client_id"]
        )
        assert client_id not in (await http.get(f"/console/tenants/{other_tenant}")).text
    [(owner, email)] = query(
        console_db, "SELECT tenant_id, email FROM api_clients WHERE client_id = %s", client_id
    )
    assert (owner, email) == (number, "ops@acme.example")
    assert len(audit_rows(console_db, "client.create", f"client:{client_id}")) == 1


async def test_rotating_a_secret_refuses_the_old_one_and_is_audited(
    console_db: str, operator: Operator
) -> None:
    made = await make_client(console_db, tenant=f"rot-{uuid.uuid4().hex[:6]}", name="rot")
    [(number,)] = query(
        console_db, "SELECT tenant_id FROM api_clients WHERE client_id = %s", made["client_id"]
    )
    async with console(console_db, **LIMITS) as http:
        token = await logged_in(http, operator)
        assert await token_status(http, made["client_id"], made["secret"]) == 200
        page = await http.get(f"/console/tenants/{number}")
        assert f'action="/console/clients/{made["client_id"]}/rotate"' in page.text
        done = await http.post(
            f"/console/clients/{made['client_id']}/rotate",
            data={"csrf": token, "tenant": str(number)},
        )
        assert done.status_code == 200, done.text
        assert "no-store" in done.headers["cache-control"]
        secret = shown(done.text, "client_secret")
        assert secret != made["secret"]
        assert f'href="/console/tenants/{number}"' in done.text
        assert await token_status(http, made["client_id"], made["secret"]) == 401
        assert await token_status(http, made["client_id"], secret) == 200
        missing = await http.post("/console/clients/no-such-client/rotate", data={"csrf": token})
        assert missing.status_code == 404
        # Disabling from the tenant page comes back to it.
        off = await http.post(
            f"/console/clients/{made['client_id']}/disable",
            data={"csrf": token, "tenant": str(number)},
        )
        assert off.status_code == 303
        assert off.headers["location"] == f"/console/tenants/{number}"
    [(by, detail)] = audit_rows(console_db, "client.rotate_secret", f"client:{made['client_id']}")
    assert by is not None and detail is None
    [(stored,)] = query(
        console_db, "SELECT secret_hash FROM api_clients WHERE client_id = %s", made["client_id"]
    )
    assert secret not in stored
    assert (
        count(
            console_db, "SELECT count(*) FROM operator_audit WHERE action = 'client.rotate_secret'"
        )
        == 1
    )


async def test_a_jwt_client_has_no_secret_to_rotate(console_db: str, operator: Operator) -> None:
    made = await make_client(console_db, tenant=f"jwt-{uuid.uuid4().hex[:6]}", name="jwt")
    query(
        console_db,
        "UPDATE api_clients SET secret_hash = NULL WHERE client_id = %s RETURNING id",
        made["client_id"],
    )
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        done = await http.post(f"/console/clients/{made['client_id']}/rotate", data={"csrf": token})
        assert done.status_code == 404
    [(stored,)] = query(
        console_db, "SELECT secret_hash FROM api_clients WHERE client_id = %s", made["client_id"]
    )
    assert stored is None


async def test_a_duplicate_name_is_a_409_and_writes_nothing(
    console_db: str, operator: Operator
) -> None:
    made = await make_client(console_db, tenant=f"dup-{uuid.uuid4().hex[:6]}", name="dup")
    [(number, name)] = query(
        console_db,
        "SELECT t.id, t.name FROM tenants t JOIN api_clients c ON c.tenant_id = t.id"
        " WHERE c.client_id = %s",
        made["client_id"],
    )
    audited = count(console_db, ACTIONS_AUDITED)
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        again = await http.post(
            "/console/tenants", data={"csrf": token, "name": name, "display_name": "again"}
        )
        assert again.status_code == 409
        assert "already exists" in again.text and "client_secret" not in again.text
        assert f'value="{name}"' in again.text  # the form comes back filled in
    assert count(console_db, "SELECT count(*) FROM api_clients WHERE tenant_id = %s", number) == 1
    assert count(console_db, ACTIONS_AUDITED) == audited


async def test_bad_input_is_a_4xx_and_writes_nothing(console_db: str, operator: Operator) -> None:
    made = await make_client(console_db, tenant=f"bad-{uuid.uuid4().hex[:6]}", name="bad")
    [(number,)] = query(
        console_db, "SELECT tenant_id FROM api_clients WHERE client_id = %s", made["client_id"]
    )
    tenants = count(console_db, "SELECT count(*) FROM tenants")
    clients = count(console_db, "SELECT count(*) FROM api_clients")
    audited = count(console_db, ACTIONS_AUDITED)
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        for data in (
            {"name": "   ", "display_name": "x"},
            {"display_name": "x"},
            {"name": "n" * 101, "display_name": "x"},
            {"name": f"ok-{uuid.uuid4().hex[:6]}", "display_name": ""},
            {"name": f"ok-{uuid.uuid4().hex[:6]}", "display_name": "d" * 201},
            {"name": f"ok-{uuid.uuid4().hex[:6]}", "display_name": "x", "email": "not-an-email"},
            {"name": f"ok-{uuid.uuid4().hex[:6]}", "display_name": "x", "email": "a@" + "e" * 320},
        ):
            response = await http.post("/console/tenants", data={"csrf": token, **data})
            assert response.status_code == 400, data
            assert 'class="error"' in response.text
        for data in ({"display_name": " "}, {"display_name": "d" * 201}, {"email": "x@y"}):
            path = f"/console/tenants/{number}/clients"
            response = await http.post(path, data={"csrf": token, **data})
            assert response.status_code == 400, data
        add_unknown = await http.post(
            "/console/tenants/2147483000/clients", data={"csrf": token, "display_name": "x"}
        )
        assert add_unknown.status_code == 404
        add_bad = await http.post(
            "/console/tenants/abc/clients", data={"csrf": token, "display_name": "x"}
        )
        assert add_bad.status_code == 400
        assert (await http.get("/console/tenants/abc")).status_code == 400
        assert (await http.get("/console/tenants/0")).status_code == 400
        assert (await http.get("/console/tenants/2147483000")).status_code == 404
        assert (await http.get("/console/tenants?before=x")).status_code == 400
        assert (await http.get(f"/console/tenants/{number}?before=-1")).status_code == 400
        rotate = await http.post(
            f"/console/clients/{made['client_id']}/rotate", data={"csrf": token, "tenant": "x"}
        )
        assert rotate.status_code == 400
        assert await token_status(http, made["client_id"], made["secret"]) == 200
    assert count(console_db, "SELECT count(*) FROM tenants") == tenants
    assert count(console_db, "SELECT count(*) FROM api_clients") == clients
    assert count(console_db, ACTIONS_AUDITED) == audited


async def test_stored_html_is_escaped(console_db: str, operator: Operator) -> None:
    name = f"{XSS}-{uuid.uuid4().hex[:6]}"
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        done = await http.post(
            "/console/tenants", data={"csrf": token, "name": name, "display_name": f"n {XSS}"}
        )
        assert done.status_code == 200
        number = tenant_id(console_db, name)
        pages = [
            done,
            await http.get("/console/tenants"),
            await http.get(f"/console/tenants/{number}"),
            await http.get("/console/clients"),
        ]
        for page in pages:
            assert page.status_code == 200
            assert XSS not in page.text
            assert ESCAPED_XSS in page.text
        duplicate = await http.post(
            "/console/tenants", data={"csrf": token, "name": name, "display_name": "again"}
        )
        assert duplicate.status_code == 409 and XSS not in duplicate.text


async def test_tenants_are_paginated_by_keyset(console_db: str, operator: Operator) -> None:
    prefix = f"pg-{uuid.uuid4().hex[:6]}"
    seeded = {
        row[0]
        for row in query(
            console_db,
            "INSERT INTO tenants (name) SELECT %s || '-' || n FROM generate_series(1, 120) n"
            " RETURNING id",
            prefix,
        )
    }
    async with console(console_db) as http:
        await logged_in(http, operator)
        listed = re.compile(r"<td><a href=\"/console/tenants/(\d+)\">\d+</a>")
        seen, _ = await walk_pages(http, "/console/tenants", listed)
        assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
        assert seeded <= set(seen)
