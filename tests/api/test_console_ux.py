"""The console's UX pages over HTTP, against an in-process app on a migrated database of their
own: a channel client created (its secret shown once, working at the UX API, only for its
business units, audited without the secret), UX cancellations found by correlation id,
appointment id and business unit with their events, keyset pages, CSRF and a session
required, bad input refused, stored HTML escaped."""

from __future__ import annotations

import re
import uuid

import httpx

from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.ux_fixtures import create_ux_appointment
from cancelgate.upstream.csg import scenarios as csg
from tests.api.console_support import XSS, Operator, console, logged_in, walk_pages
from tests.support import TECHNICAL_BODY, count, query

ESCAPED_XSS = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
CHANNELS_AUDITED = "SELECT count(*) FROM operator_audit WHERE action = 'channel_client.create'"


def shown(html: str, label: str) -> str:
    """A value of the page that shows a new secret once."""
    found = re.search(rf"<dt>{label}</dt><dd><code>([^<]+)</code></dd>", html)
    assert found, html
    return found.group(1)


async def ux_appointment(database_url: str, unit: str, scenario: str = csg.TECHNICAL) -> str:
    """A fresh UX appointment of the business unit (and its simulated CSG twin); its id."""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            made = await create_ux_appointment(session, business_id=unit, scenario=scenario)
            await session.commit()
            return made.appointment_id
    finally:
        await engine.dispose()


async def cancel(
    http: httpx.AsyncClient, channel: dict[str, str], unit: str, appointment_id: str, cid: str
) -> httpx.Response:
    """The UX API's PATCH, as the channel, with that correlation id."""
    headers = {**channel, "X-Correlation-ID": cid}
    path = f"/ecom-ux/v1/{unit}/appointment/{appointment_id}"
    return await http.patch(path, json=TECHNICAL_BODY, headers=headers)


async def create_channel(
    http: httpx.AsyncClient, token: str, name: str, units: list[str]
) -> httpx.Response:
    return await http.post(
        "/console/channel-clients", data={"csrf": token, "name": name, "units": units}
    )


def ux_pk(database_url: str, unit: str, appointment_id: str) -> int:
    [(found,)] = query(
        database_url,
        "SELECT id FROM ux_appointments WHERE business_id = %s AND appointment_id = %s",
        unit,
        appointment_id,
    )
    return int(found)


LISTED = re.compile(r'<td><a href="/console/ux/(\d+)">')


def listed_ids(html: str) -> list[int]:
    return [int(i) for i in LISTED.findall(html)]


async def test_no_page_or_action_without_a_session(console_db: str, operator: Operator) -> None:
    async with console(console_db) as http:
        for path in ("/console/ux", "/console/ux/1", "/console/channel-clients", "/console/ux?x=1"):
            response = await http.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/console/login?next=%2Fconsole%2F")
        response = await http.post(
            "/console/channel-clients", data={"csrf": "x", "name": "n", "units": ["PR"]}
        )
        assert response.status_code == 303 and response.headers["location"] == "/console/login"
    assert count(console_db, "SELECT count(*) FROM channel_clients WHERE name = 'n'") == 0


async def test_csrf_missing_or_wrong_is_refused(console_db: str, operator: Operator) -> None:
    name = f"csrf-{uuid.uuid4().hex[:6]}"
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        for form in ({}, {"csrf": token[:-1] + ("x" if token[-1] != "x" else "y")}):
            response = await http.post(
                "/console/channel-clients", data={**form, "name": name, "units": ["PR"]}
            )
            assert response.status_code == 403
            assert "client_secret" not in response.text
    assert count(console_db, "SELECT count(*) FROM channel_clients WHERE name = %s", name) == 0


async def test_a_channel_client_works_for_its_units_and_its_cancellations_are_found(
    console_db: str, operator: Operator
) -> None:
    name = f"shop-{uuid.uuid4().hex[:6]}"
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        page = await http.get("/console/channel-clients")
        assert page.status_code == 200 and 'value="PR"' in page.text
        done = await create_channel(http, token, name, ["pr", "JM"])
        assert done.status_code == 200, done.text
        assert "no-store" in done.headers["cache-control"]
        channel = {
            "client_id": shown(done.text, "client_id"),
            "client_secret": shown(done.text, "client_secret"),
        }
        [(units, stored, enabled)] = query(
            console_db,
            "SELECT business_units, secret_hash, enabled FROM channel_clients WHERE client_id = %s",
            channel["client_id"],
        )
        assert (units, enabled) == (["JM", "PR"], True)
        assert channel["client_secret"] not in stored
        listed = await http.get("/console/channel-clients")
        assert channel["client_id"] in listed.text and "JM, PR" in listed.text
        assert channel["client_secret"] not in listed.text

        # The channel cancels at the UX API, for its units only.
        appointment = await ux_appointment(console_db, "PR")
        cid = f"corr-{uuid.uuid4()}"
        cancelled = await cancel(http, channel, "PR", appointment, cid)
        assert cancelled.status_code == 200, cancelled.text
        other_unit = await ux_appointment(console_db, "TT")
        refused = await cancel(http, channel, "TT", other_unit, f"corr-{uuid.uuid4()}")
        assert refused.status_code == 401, refused.text
        wrong = {**channel, "client_secret": channel["client_secret"] + "x"}
        assert (await cancel(http, wrong, "PR", other_unit, "c")).status_code == 401

        pk = ux_pk(console_db, "PR", appointment)
        by_correlation = await http.get("/console/ux", params={"correlation_id": cid})
        assert listed_ids(by_correlation.text) == [pk]
        assert cid in by_correlation.text
        by_appointment = await http.get("/console/ux", params={"appointment_id": appointment})
        assert listed_ids(by_appointment.text) == [pk]
        by_unit = await http.get("/console/ux", params={"business_id": "pr"})
        assert pk in listed_ids(by_unit.text)
        assert listed_ids((await http.get("/console/ux", params={"business_id": "JM"})).text) == []
        # Cancelled ones unless asked: the TT appointment is still confirmed.
        tt_pk = ux_pk(console_db, "TT", other_unit)
        assert tt_pk not in listed_ids((await http.get("/console/ux")).text)
        everything = await http.get("/console/ux", params={"status": "any"})
        assert {pk, tt_pk} <= set(listed_ids(everything.text))
        confirmed = await http.get("/console/ux", params={"status": "confirmed"})
        assert tt_pk in listed_ids(confirmed.text) and pk not in listed_ids(confirmed.text)
        unknown = await http.get("/console/ux", params={"correlation_id": "no-such"})
        assert listed_ids(unknown.text) == []

        detail = await http.get(f"/console/ux/{pk}")
        assert detail.status_code == 200
        assert cid in detail.text and "ux.appointment.state-change" in detail.text
        assert appointment in detail.text and "cancelled" in detail.text
    [(action, detail_json)] = query(
        console_db,
        "SELECT action, detail::text FROM operator_audit WHERE target = %s",
        f"channel_client:{channel['client_id']}",
    )
    assert action == "channel_client.create" and name in detail_json and "PR" in detail_json
    assert channel["client_secret"] not in detail_json


async def test_bad_input_is_a_4xx_and_writes_nothing(console_db: str, operator: Operator) -> None:
    channels = count(console_db, "SELECT count(*) FROM channel_clients")
    audited = count(console_db, CHANNELS_AUDITED)
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        for name, units in (
            ("ok", []),
            ("ok", ["XX"]),
            ("ok", ["PR", "XX"]),
            ("ok", ["PRX"]),
            ("  ", ["PR"]),
            ("n" * 201, ["PR"]),
        ):
            response = await create_channel(http, token, name, units)
            assert response.status_code == 400, (name, units)
            assert 'class="error"' in response.text and "client_secret" not in response.text
        for params in (
            {"status": "bogus"},
            {"business_id": "ABC"},
            {"appointment_id": "a" * 41},
            {"correlation_id": "c" * 201},
            {"before": "x"},
            {"before": "0"},
        ):
            assert (await http.get("/console/ux", params=params)).status_code == 400, params
        assert (await http.get("/console/ux/abc")).status_code == 400
        assert (await http.get("/console/ux/2147483000")).status_code == 404
        assert (await http.get("/console/channel-clients?before=-3")).status_code == 400
    assert count(console_db, "SELECT count(*) FROM channel_clients") == channels
    assert count(console_db, CHANNELS_AUDITED) == audited


async def test_stored_html_is_escaped(console_db: str, operator: Operator) -> None:
    async with console(console_db) as http:
        token = await logged_in(http, operator)
        done = await create_channel(http, token, f"shop {XSS}", ["PR"])
        assert done.status_code == 200
        channel = {
            "client_id": shown(done.text, "client_id"),
            "client_secret": shown(done.text, "client_secret"),
        }
        appointment = await ux_appointment(console_db, "PR")
        # A correlation id is the caller's own text: HTML in it is stored as sent.
        cid = f"{XSS}{uuid.uuid4().hex[:6]}"
        assert (await cancel(http, channel, "PR", appointment, cid)).status_code == 200
        pk = ux_pk(console_db, "PR", appointment)
        pages = [
            done,
            await http.get("/console/channel-clients"),
            await http.get("/console/ux", params={"correlation_id": cid}),
            await http.get(f"/console/ux/{pk}"),
        ]
        for page in pages:
            assert page.status_code == 200
            assert XSS not in page.text
            assert ESCAPED_XSS in page.text
        assert listed_ids(pages[2].text) == [pk]


async def test_ux_cancellations_are_paginated_by_keyset(
    console_db: str, operator: Operator
) -> None:
    # A business unit of its own (not served: only stored), so that only these rows match.
    seeded = {
        row[0]
        for row in query(
            console_db,
            "INSERT INTO ux_appointments"
            " (business_id, appointment_id, status, order_class, cancelled_at)"
            " SELECT 'ZZ', 'pg-' || n, 'cancelled', 'T', now() FROM generate_series(1, 120) n"
            " RETURNING id",
        )
    }
    async with console(console_db) as http:
        await logged_in(http, operator)
        seen, pages = await walk_pages(http, "/console/ux?business_id=ZZ", LISTED)
        assert pages == 3
        assert seen == sorted(seen, reverse=True) and set(seen) == seeded
