"""The console's sandbox pages over HTTP (in-process app, no worker, a database of the module's
own): unknown (404) while the sandbox is off; fixtures made for a tenant or a business unit and
a tenant's clock moved, through the sandbox API's own functions (the rows, jobs and clock the
API would make); each action audited, CSRF refused, bad input a 4xx that writes nothing, stored
HTML escaped."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.console_support import XSS, Operator, console, logged_in, make_client
from tests.support import count, query

DAY = 86_400
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def new_tenant(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tenant_row(database_url: str, name: str) -> tuple[int, float]:
    [(tenant_id, offset)] = query(
        database_url, "SELECT id, clock_offset_seconds FROM tenants WHERE name = %s", name
    )
    return int(tenant_id), float(offset)


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


def appointments_of(database_url: str, tenant_id: int) -> int:
    return count(database_url, "SELECT count(*) FROM appointments WHERE tenant_id = %s", tenant_id)


def ids_on(html: str) -> list[str]:
    """The first column of the table of what was made."""
    return re.findall(r"<tr><td><code>([^<]+)</code></td>", html)


async def test_off_the_sandbox_pages_are_unknown(console_db: str, operator: Operator) -> None:
    tenant = new_tenant("off")
    await make_client(console_db, tenant=tenant, name="off")
    async with console(console_db) as http:
        # Unknown before any session is asked for.
        assert (await http.get("/console/sandbox")).status_code == 404
        token = await logged_in(http, operator)
        home = await http.get("/console")
        assert 'href="/console/sandbox"' not in home.text
        assert (await http.get("/console/sandbox", params={"tenant": tenant})).status_code == 404
        for path, data in (
            ("/console/sandbox/appointments", {"tenant": tenant, "scenario": "booked"}),
            ("/console/sandbox/services", {"tenant": tenant, "scenario": "active"}),
            ("/console/sandbox/ux-appointments", {"business_unit": "PR", "scenario": "technical"}),
            ("/console/sandbox/clock", {"tenant": tenant, "seconds": "60"}),
        ):
            response = await http.post(path, data={"csrf": token, **data})
            assert response.status_code == 404, path
    tenant_id, offset = tenant_row(console_db, tenant)
    assert offset == 0 and appointments_of(console_db, tenant_id) == 0


async def test_on_the_pages_need_a_session_and_csrf(console_db: str, operator: Operator) -> None:
    tenant = new_tenant("csrf")
    await make_client(console_db, tenant=tenant, name="csrf")
    async with console(console_db, sandbox=True) as http:
        page = await http.get("/console/sandbox")
        assert page.status_code == 303
        assert page.headers["location"].startswith("/console/login?next=%2Fconsole%2Fsandbox")
        posted = await http.post("/console/sandbox/clock", data={"csrf": "x"})
        assert posted.status_code == 303 and posted.headers["location"] == "/console/login"
        token = await logged_in(http, operator)
        home = await http.get("/console")
        assert 'href="/console/sandbox"' in home.text
        for path, data in (
            ("/console/sandbox/appointments", {"tenant": tenant, "scenario": "booked"}),
            ("/console/sandbox/clock", {"tenant": tenant, "seconds": "60"}),
        ):
            assert (await http.post(path, data=data)).status_code == 403, path
            wrong = {**data, "csrf": token[:-1] + ("x" if token[-1] != "x" else "y")}
            assert (await http.post(path, data=wrong)).status_code == 403, path
    tenant_id, offset = tenant_row(console_db, tenant)
    assert offset == 0 and appointments_of(console_db, tenant_id) == 0
    assert (
        count(
            console_db, "SELECT count(*) FROM operator_audit WHERE target = %s", f"tenant:{tenant}"
        )
        == 0
    )


async def test_fixtures_are_made_as_the_api_makes_them(console_db: str, operator: Operator) -> None:
    tenant = new_tenant("fixtures")
    made_client = await make_client(console_db, tenant=tenant, name="requester")
    tenant_id, _ = tenant_row(console_db, tenant)
    async with console(console_db, sandbox=True) as http:
        token = await logged_in(http, operator)
        page = await http.get("/console/sandbox", params={"tenant": tenant})
        assert page.status_code == 200 and "<option>booked</option>" in page.text

        appointments = await http.post(
            "/console/sandbox/appointments",
            data={
                "csrf": token,
                "tenant": tenant,
                "scenario": "cancellation-in-progress",
                "count": "3",
            },
        )
        assert appointments.status_code == 200, appointments.text
        shown = [int(i) for i in ids_on(appointments.text)]
        assert len(shown) == 3
        rows = query(
            console_db,
            "SELECT a.id, s.scenario FROM appointments a JOIN sim_nbn_appointments s"
            " ON s.nbn_appointment_id = a.nbn_appointment_id WHERE a.tenant_id = %s",
            tenant_id,
        )
        assert sorted(rows) == [(i, "cancellation-in-progress") for i in sorted(shown)]
        # The scenario's held cancellation, as the API's fixture has it.
        assert (
            count(
                console_db,
                "SELECT count(*) FROM appointment_cancellations WHERE appointment_id = ANY(%s)"
                " AND status = 'IN_PROGRESS'",
                shown,
            )
            == 3
        )

        services = await http.post(
            "/console/sandbox/services",
            data={"csrf": token, "tenant": tenant, "scenario": "cancellation-requested"},
        )
        assert services.status_code == 200, services.text
        [service_id] = [int(i) for i in ids_on(services.text)]
        # Requested as the tenant's client, with its submission job deferred.
        [(requested_by, job_id)] = query(
            console_db,
            "SELECT c.client_id, sc.submission_job_id FROM service_cancellations sc"
            " JOIN api_clients c ON c.id = sc.requested_by_id WHERE sc.service_id = %s",
            service_id,
        )
        assert requested_by == made_client["client_id"] and job_id is not None
        assert (
            count(
                console_db,
                "SELECT count(*) FROM procrastinate_jobs WHERE id = %s AND status = 'todo'",
                job_id,
            )
            == 1
        )

        ux = await http.post(
            "/console/sandbox/ux-appointments",
            data={"csrf": token, "business_unit": "pr", "scenario": "technical", "count": "2"},
        )
        assert ux.status_code == 200, ux.text
        ux_ids = ids_on(ux.text)
        assert len(ux_ids) == 2
        assert (
            count(
                console_db,
                "SELECT count(*) FROM ux_appointments WHERE business_id = 'PR'"
                " AND appointment_id = ANY(%s)",
                ux_ids,
            )
            == 2
        )
    assert audited(console_db, "sandbox.appointments", f"tenant:{tenant}") == [
        {"scenario": "cancellation-in-progress", "count": 3}
    ]
    assert audited(console_db, "sandbox.services", f"tenant:{tenant}") == [
        {"scenario": "cancellation-requested", "count": 1, "as": made_client["client_id"]}
    ]
    assert audited(console_db, "sandbox.ux-appointments", "business-unit:PR") == [
        {"scenario": "technical", "count": 2}
    ]


async def test_the_clock_moves_forward_as_the_api_moves_it(
    console_db: str, operator: Operator
) -> None:
    tenant, bystander = new_tenant("clock"), new_tenant("still")
    await make_client(console_db, tenant=tenant, name="clock")
    await make_client(console_db, tenant=bystander, name="still")
    async with console(console_db, sandbox=True) as http:
        token = await logged_in(http, operator)
        made = await http.post(
            "/console/sandbox/services",
            data={"csrf": token, "tenant": tenant, "scenario": "cancellation-requested"},
        )
        [service_id] = [int(i) for i in ids_on(made.text)]
        [(job_id,)] = query(
            console_db,
            "SELECT submission_job_id FROM service_cancellations WHERE service_id = %s",
            service_id,
        )

        def due_at() -> datetime:
            [(at,)] = query(
                console_db, "SELECT scheduled_at FROM procrastinate_jobs WHERE id = %s", job_id
            )
            return at if at is not None else datetime.now(UTC)

        assert due_at() > datetime.now(UTC) + timedelta(days=13)

        moved = await http.post(
            "/console/sandbox/clock",
            data={"csrf": token, "tenant": tenant, "seconds": str(15 * DAY)},
        )
        assert moved.status_code == 303
        assert moved.headers["location"] == f"/console/sandbox?tenant={tenant}"
        assert tenant_row(console_db, tenant)[1] == 15 * DAY
        assert tenant_row(console_db, bystander)[1] == 0
        # What came due for the tenant runs at once (the API's advance brings it forward).
        assert due_at() <= datetime.now(UTC)
        page = await http.get(moved.headers["location"])
        assert page.status_code == 200 and f"{float(15 * DAY)} s" in page.text

        # To a time (a datetime-local value, UTC): forward only.
        target = datetime.now(UTC) + timedelta(days=20)
        to = await http.post(
            "/console/sandbox/clock",
            data={"csrf": token, "tenant": tenant, "to": target.strftime("%Y-%m-%dT%H:%M:%S")},
        )
        assert to.status_code == 303
        assert abs(tenant_row(console_db, tenant)[1] - 20 * DAY) < 60
        offset = tenant_row(console_db, tenant)[1]
        past = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        for data in (
            {"to": past},  # behind the tenant's clock
            {},  # neither
            {"to": past, "seconds": "60"},  # both
            {"seconds": "-5"},
            {"seconds": "soon"},
            {"to": "tomorrow"},
            {"seconds": str(200 * 366 * DAY)},
        ):
            response = await http.post(
                "/console/sandbox/clock", data={"csrf": token, "tenant": tenant, **data}
            )
            assert response.status_code == 422, (data, response.text)
        assert tenant_row(console_db, tenant)[1] == offset
        unknown = await http.post(
            "/console/sandbox/clock", data={"csrf": token, "tenant": "nobody", "seconds": "1"}
        )
        assert unknown.status_code == 404
        assert (await http.get("/console/sandbox", params={"tenant": "nobody"})).status_code == 404
    details = audited(console_db, "sandbox.clock.advance", f"tenant:{tenant}")
    assert [d["seconds"] for d in details] == [15 * DAY, None]
    assert details[0]["offset_seconds"] == 15 * DAY
    assert details[1]["to"].endswith("+00:00")


async def test_bad_input_is_refused_and_writes_nothing(console_db: str, operator: Operator) -> None:
    tenant = new_tenant("bad")
    await make_client(console_db, tenant=tenant, name="bad")
    lonely = new_tenant("lonely")
    lonely_client = await make_client(console_db, tenant=lonely, name="disabled")
    query(
        console_db,
        "UPDATE api_clients SET enabled = false WHERE client_id = %s RETURNING id",
        lonely_client["client_id"],
    )
    tenant_id, _ = tenant_row(console_db, tenant)
    async with console(console_db, sandbox=True) as http:
        token = await logged_in(http, operator)
        made, services, ux = (
            "/console/sandbox/appointments",
            "/console/sandbox/services",
            "/console/sandbox/ux-appointments",
        )
        booked = {"tenant": tenant, "scenario": "booked"}
        for path, data, status in (
            (made, {**booked, "scenario": "nope"}, 422),
            (made, {**booked, "scenario": "other-tenant"}, 422),
            (made, {**booked, "count": "0"}, 422),
            (made, {**booked, "count": "1001"}, 422),
            (made, {**booked, "count": "x"}, 422),
            (made, {**booked, "tenant": ""}, 404),
            (made, {**booked, "tenant": "t" * 101}, 400),
            (services, {"tenant": lonely, "scenario": "active"}, 422),
            (ux, {"business_unit": "ZZ", "scenario": "technical"}, 400),
            (ux, {"business_unit": "PR", "scenario": "booked"}, 422),
        ):
            response = await http.post(path, data={"csrf": token, **data})
            assert response.status_code == status, (data, response.text)
        unknown = await http.post(
            "/console/sandbox/appointments",
            data={"csrf": token, "tenant": tenant, "scenario": "nope"},
        )
        assert "scenario: must be one of: booked" in unknown.text
    assert appointments_of(console_db, tenant_id) == 0
    assert (
        count(
            console_db,
            "SELECT count(*) FROM services s JOIN tenants t ON t.id = s.tenant_id"
            " WHERE t.name = %s",
            lonely,
        )
        == 0
    )
    assert (
        count(
            console_db,
            "SELECT count(*) FROM operator_audit"
            " WHERE action LIKE 'sandbox.%%' AND target IN (%s, %s)",
            f"tenant:{tenant}",
            f"tenant:{lonely}",
        )
        == 0
    )


async def test_stored_html_is_escaped(console_db: str, operator: Operator) -> None:
    tenant = f"{XSS}-{uuid.uuid4().hex[:6]}"
    await make_client(console_db, tenant=tenant, name="xss")
    async with console(console_db, sandbox=True) as http:
        token = await logged_in(http, operator)
        pages = [
            await http.get("/console/sandbox", params={"tenant": tenant}),
            await http.post(
                "/console/sandbox/appointments",
                data={"csrf": token, "tenant": tenant, "scenario": "booked"},
            ),
        ]
        for page in pages:
            assert page.status_code == 200, page.text
            assert XSS not in page.text and ESCAPED in page.text
