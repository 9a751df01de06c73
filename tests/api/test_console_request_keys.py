"""The client's Idempotency-Key on the console's request pages (appointment and service
cancellations): shown escaped when the request was made with one, "none" when without."""

from __future__ import annotations

import re
import uuid

import httpx

from cancelgate.connect.idempotency_key import KEY_PATTERN
from tests.api.console_support import Operator, console, logged_in, seed_requests
from tests.support import query

# Visible ASCII is a valid key, markup characters included: the page must escape them.
KEY = "<b>k&\"'</b>-" + uuid.uuid4().hex
# The tests' premise (a key a client may really send), not a test of the product.
assert KEY_PATTERN.fullmatch(KEY)
ESCAPED_KEY = KEY.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
ESCAPED_KEY = ESCAPED_KEY.replace('"', "&#34;").replace("'", "&#39;")
KEY_ROW = re.compile(r"<dt>Idempotency-Key</dt><dd>(.*?)</dd>")


def shown_key(page: httpx.Response) -> str:
    """What the page's Idempotency-Key row shows (its HTML)."""
    assert page.status_code == 200, page.text
    [shown] = KEY_ROW.findall(page.text)
    return str(shown)


def add_service_cancellations(url: str, tenant: str, keys: list[str | None]) -> list[int]:
    """A closed cancellation of a new service of the tenant per key; their ids."""
    [(tenant_id, client_pk)] = query(
        url,
        "SELECT t.id, c.id FROM tenants t JOIN api_clients c ON c.tenant_id = t.id"
        " WHERE t.name = %s",
        tenant,
    )
    ids = []
    for key in keys:
        [(service_id,)] = query(
            url,
            "INSERT INTO services (tenant_id, nbn_service_id, status, eligible_for_cancellation)"
            " VALUES (%s, %s, 'ACTIVE', true) RETURNING id",
            tenant_id,
            "AVC" + uuid.uuid4().hex[:12].upper(),
        )
        [(cancellation_id,)] = query(
            url,
            "INSERT INTO service_cancellations (tenant_id, service_id, status, request_date,"
            " requested_on, requested_by_id, submission, attempts, request_key, idempotency_key)"
            " VALUES (%s, %s, 'ABORTED', DATE '2026-12-24', now(), %s, 1, 0, gen_random_uuid(),"
            " %s) RETURNING id",
            tenant_id,
            service_id,
            client_pk,
            key,
        )
        ids.append(int(cancellation_id))
    return ids


async def test_an_appointment_request_shows_its_key_escaped_or_none(
    console_db: str, operator: Operator
) -> None:
    keyed, unkeyed = await seed_requests(console_db, "keys-appointments", "keyed client", 2)
    assert query(
        console_db,
        "UPDATE appointment_cancellations SET idempotency_key = %s WHERE id = %s RETURNING id",
        KEY,
        keyed,
    ) == [(keyed,)]
    async with console(console_db) as http:
        await logged_in(http, operator)
        page = await http.get(f"/console/requests/{keyed}")
        assert shown_key(page) == f"<code>{ESCAPED_KEY}</code>"
        assert KEY not in page.text
        assert shown_key(await http.get(f"/console/requests/{unkeyed}")) == "none"


async def test_a_service_request_shows_its_key_escaped_or_none(
    console_db: str, operator: Operator
) -> None:
    await seed_requests(console_db, "keys-services", "svc client", 1)
    keyed, unkeyed = add_service_cancellations(console_db, "keys-services", [KEY, None])
    async with console(console_db) as http:
        await logged_in(http, operator)
        page = await http.get(f"/console/services/{keyed}")
        assert shown_key(page).startswith(f"<code>{ESCAPED_KEY}</code>")
        assert KEY not in page.text
        assert shown_key(await http.get(f"/console/services/{unkeyed}")) == "none"
