"""The operator console (/console), over HTTP against an in-process app on a migrated database
of its own: off (404) until an operator exists and with CANCELGATE_CONSOLE=false; operators
created by the command line (a password printed once); login, slowed failures, sessions in a
signed cookie (tampered, expired or logged-out cookies refused); CSRF on every POST; a client
disabled through the console, audited; stored HTML escaped; keyset pagination."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

from cancelgate.console.sessions import COOKIE, LOGIN_COOKIE, Session, encode, session_key
from cancelgate.ux.service import STATE_CHANGE as UX_STATE_CHANGE
from tests.api.console_support import (
    XSS,
    Operator,
    console,
    create_operator,
    csrf_of,
    enabled,
    keys_of,
    logged_in,
    login,
    make_client,
    seed_requests,
    walk_pages,
)
from tests.support import count, query


async def test_off_until_an_operator_exists_and_when_turned_off(
    fresh_db: str, tmp_path: Path
) -> None:
    url = fresh_db
    async with console(url) as http:
        for path in ("/console", "/console/login", "/console/static/console.css"):
            assert (await http.get(path)).status_code == 404, path
        assert (await http.post("/console/login", data={})).status_code == 404
        done = create_operator(url, tmp_path, "first@example.com")
        assert done.returncode == 0, done.stderr
        # The console's gate is believed for a moment: wait (bounded) until it opens.
        deadline = time.monotonic() + 10
        while (await http.get("/console/login")).status_code != 200:
            assert time.monotonic() < deadline, "the console did not open"
            await http.get("/healthz")
    async with console(url, console=False) as http:
        assert (await http.get("/console/login")).status_code == 404
        assert (await http.get("/console")).status_code == 404


async def test_the_command_line_prints_a_working_password_once(
    console_db: str, operator: Operator, tmp_path: Path
) -> None:
    again = create_operator(console_db, tmp_path, operator.email)
    assert again.returncode != 0 and operator.password not in again.stdout
    short = create_operator(console_db, tmp_path, "short@example.com", "tooshort")
    assert short.returncode != 0
    chosen = create_operator(console_db, tmp_path, "chosen@example.com", "a chosen passphrase\n")
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout) == {
        "email": "chosen@example.com",
        "password": "a chosen passphrase",
    }
    async with console(console_db) as http:
        for email, password in (
            (operator.email, operator.password),
            ("Chosen@Example.com", "a chosen passphrase"),
        ):
            http.cookies.clear()
            response = await login(http, email, password, next_="/console/audit")
            assert response.status_code == 303, response.text
            assert response.headers["location"] == "/console/audit"
            cookie = next(
                v
                for k, v in response.headers.multi_items()
                if k == "set-cookie" and v.startswith(f"{COOKIE}=")
            )
            assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
            assert "Secure" not in cookie  # plain http here; https gets Secure
            page = await http.get("/console/audit")
            assert page.status_code == 200 and email.lower() in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'none'")


async def test_an_offsite_next_is_not_followed(console_db: str, operator: Operator) -> None:
    async with console(console_db) as http:
        for evil in ("https://evil.example/", "//evil.example/console", "/consolexyz", "/\\evil"):
            http.cookies.clear()
            response = await login(http, operator.email, operator.password, next_=evil)
            assert response.headers["location"] == "/console", evil


async def test_no_page_without_a_session(console_db: str, operator: Operator) -> None:
    async with console(console_db) as http:
        for path in (
            "/console",
            "/console/requests?status=FAILED",
            "/console/requests/1",
            "/console/clients",
            "/console/audit",
        ):
            response = await http.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/console/login?next=%2Fconsole"), path
        response = await http.post("/console/clients/whatever/disable", data={"csrf": "x"})
        assert response.status_code == 303
        assert response.headers["location"] == "/console/login"


async def test_wrong_passwords_fail_and_are_slowed(console_db: str, operator: Operator) -> None:
    async with console(console_db, rate_limit_token_failures=2) as http:
        for _ in range(2):
            wrong = await login(http, operator.email, "not the password")
            assert wrong.status_code == 401 and "Wrong email or password." in wrong.text
            assert COOKIE not in wrong.cookies
        # Two failures allowed: the next attempt waits, even with the right password.
        throttled = await login(http, operator.email, operator.password)
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) >= 1
        assert COOKIE not in throttled.cookies
        # An unknown email fails the same way (and is slowed on its own).
        unknown = await login(http, "nobody@example.com", operator.password)
        assert unknown.status_code == 401
    assert (
        count(console_db, "SELECT count(*) FROM operator_audit WHERE action = 'login.failed'") >= 2
    )


async def test_a_tampered_expired_or_logged_out_cookie_is_refused(
    console_db: str, operator: Operator
) -> None:
    keys = await keys_of(console_db)
    key = session_key(keys.sealing_key)
    [(operator_id,)] = query(
        console_db, "SELECT id FROM operators WHERE email = %s", operator.email
    )
    now = time.time()

    def forged(expires: float) -> str:
        return encode(Session(operator_id, int(now * 1e6), int(expires), "t" * 32), key)

    async with console(console_db) as http:

        async def status_with(cookie: str) -> int:
            http.cookies.clear()
            http.cookies.set(COOKIE, cookie, domain="cancelgate.test", path="/console")
            return (await http.get("/console")).status_code

        assert await status_with(forged(now + 600)) == 200  # the forgery is right …
        assert await status_with(forged(now - 1)) == 303  # … so only expiry refuses this one
        good = forged(now + 600)
        payload, mac = good.split(".")
        flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
        assert await status_with(f"{payload}.{flipped}") == 303
        assert await status_with(forged(now + 600).replace(".", "x.", 1)) == 303
        other_key = encode(Session(operator_id, int(now * 1e6), int(now + 600), "t"), b"k" * 32)
        assert await status_with(other_key) == 303
        # Logging out ends the session: the same cookie is refused afterwards.
        http.cookies.clear()
        token = await logged_in(http, operator)
        session_cookie = http.cookies[COOKIE]
        out = await http.post("/console/logout", data={"csrf": token})
        assert out.status_code == 303
        assert await status_with(session_cookie) == 303


async def test_csrf_missing_or_wrong_is_refused(console_db: str, operator: Operator) -> None:
    made = await make_client(console_db, tenant=f"csrf-{uuid.uuid4().hex[:6]}", name="csrf")
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        path = f"/console/clients/{made['client_id']}/disable"
        assert (await http.post(path)).status_code == 403
        assert (await http.post(path, data={"csrf": token[:-1] + "x"})).status_code == 403
        assert (await http.post("/console/logout", data={})).status_code == 403
        assert enabled(console_db, made["client_id"])
        # The login form: without its cookie, or with another token, refused.
        http.cookies.clear()
        page = await http.get("/console/login")
        login_token = csrf_of(page.text)
        data = {"email": operator.email, "password": operator.password}
        assert (
            await http.post("/console/login", data={**data, "csrf": "other"})
        ).status_code == 403
        http.cookies.delete(LOGIN_COOKIE)
        assert (
            await http.post("/console/login", data={**data, "csrf": login_token})
        ).status_code == 403


async def test_disabling_a_client_refuses_its_tokens_and_is_audited(
    console_db: str, operator: Operator
) -> None:
    made = await make_client(console_db, tenant=f"dis-{uuid.uuid4().hex[:6]}", name="to disable")
    grant = {"grant_type": "client_credentials"}
    auth = (made["client_id"], made["secret"])
    async with console(
        console_db, rate_limit_tokens_per_minute=1000, rate_limit_tokens_burst=1000
    ) as http:
        assert (await http.post("/oauth/token", data=grant, auth=auth)).status_code == 200
        token = await logged_in(http, operator)
        listed = await http.get("/console/clients")
        assert made["client_id"] in listed.text
        done = await http.post(
            f"/console/clients/{made['client_id']}/disable", data={"csrf": token}
        )
        assert done.status_code == 303 and done.headers["location"] == "/console/clients"
        assert not enabled(console_db, made["client_id"])
        assert (await http.post("/oauth/token", data=grant, auth=auth)).status_code == 401
        audit = await http.get("/console/audit")
        row = re.search(
            rf"<tr>\s*<td>[^<]+</td>\s*<td>{re.escape(operator.email)}</td>\s*<td>client.disable</td>\s*<td>client:{made['client_id']}</td>",
            audit.text,
        )
        assert row, audit.text
        again = await http.post(
            f"/console/clients/{made['client_id']}/enable", data={"csrf": token}
        )
        assert again.status_code == 303
        assert (await http.post("/oauth/token", data=grant, auth=auth)).status_code == 200
        missing = await http.post("/console/clients/no-such-client/disable", data={"csrf": token})
        assert missing.status_code == 404
    assert (
        count(
            console_db,
            "SELECT count(*) FROM operator_audit"
            " WHERE action IN ('client.disable', 'client.enable') AND target = %s",
            f"client:{made['client_id']}",
        )
        == 2
    )


async def test_stored_html_is_escaped(console_db: str, operator: Operator) -> None:
    tenant = f"{XSS}-{uuid.uuid4().hex[:6]}"
    [request_id] = await seed_requests(console_db, tenant, f"name {XSS}", 1)
    async with console(console_db) as http:
        await logged_in(http, operator)
        pages = [
            await http.get(f"/console/requests/{request_id}"),
            await http.get("/console/requests", params={"tenant": tenant}),
            await http.get("/console/clients"),
        ]
        for page in pages:
            assert page.status_code == 200
            assert XSS not in page.text
            assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
        assert "name &lt;script&gt;" in pages[0].text


async def test_requests_are_paginated_by_keyset_and_filtered(
    console_db: str, operator: Operator
) -> None:
    tenant = f"page-{uuid.uuid4().hex[:6]}"
    ids = await seed_requests(console_db, tenant, "pager", 120)
    async with console(console_db) as http:
        await logged_in(http, operator)
        listed = re.compile(r'href="/console/requests/(\d+)"')
        seen, _ = await walk_pages(http, f"/console/requests?tenant={tenant}", listed)
        assert seen == sorted(ids, reverse=True)
        one = await http.get("/console/requests", params={"id": str(ids[7])})
        assert re.findall(r'href="/console/requests/(\d+)"', one.text) == [str(ids[7])]
        none = await http.get("/console/requests", params={"tenant": tenant, "status": "FAILED"})
        assert "No request matches." in none.text
        assert (await http.get("/console/requests", params={"before": "x"})).status_code == 400
        detail = await http.get(f"/console/requests/{ids[0]}")
        assert detail.status_code == 200 and tenant in detail.text and "pager" in detail.text
        assert (await http.get("/console/requests/999999999")).status_code == 404
        assert (await http.get("/console/requests/99999999999")).status_code == 400
        assert (await http.get("/console/requests", params={"id": "2147483648"})).status_code == 400


async def test_a_timeline_shows_its_appointments_events_not_a_ux_appointments(
    console_db: str, operator: Operator
) -> None:
    # UX appointments record their events under the same model name, with ids of their own.
    [request_id] = await seed_requests(console_db, f"ux-{uuid.uuid4().hex[:6]}", "events", 1)
    [(appointment_id, tenant_id)] = query(
        console_db,
        "SELECT appointment_id, tenant_id FROM appointment_cancellations WHERE id = %s",
        request_id,
    )
    for event_type, tenant in (("appointment.cancelled", tenant_id), (UX_STATE_CHANGE, None)):
        query(
            console_db,
            "INSERT INTO events (id, tenant_id, type, model, subject_id, payload)"
            " VALUES (gen_random_uuid(), %s, %s, 'appointment', %s, '{}') RETURNING id",
            tenant,
            event_type,
            appointment_id,
        )
    async with console(console_db) as http:
        await logged_in(http, operator)
        page = await http.get(f"/console/requests/{request_id}")
    assert "event appointment.cancelled" in page.text
    assert UX_STATE_CHANGE not in page.text


async def test_a_cookie_of_the_same_name_from_another_path_does_not_shadow_the_session(
    console_db: str, operator: Operator
) -> None:
    async with console(console_db) as http:
        await logged_in(http, operator)
        good = http.cookies[COOKIE]
        http.cookies.clear()
        # Another application of the host set `cg_console` on `/`: the browser sends both.
        for header in (f"{COOKIE}=junk; {COOKIE}={good}", f"{COOKIE}={good}; {COOKIE}=junk"):
            page = await http.get("/console", headers={"Cookie": header})
            assert page.status_code == 200, header
        junk_only = await http.get("/console", headers={"Cookie": f"{COOKIE}=junk; {COOKIE}=x.y"})
        assert junk_only.status_code == 303
