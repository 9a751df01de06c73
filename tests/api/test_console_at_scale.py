"""The console's lists at scale: over 200,000 requests (ANALYZEd), every filter's first page and
a page half way down are index range scans that read about one page of rows from the big table, with
no sort and no sequential scan of it, whatever the tenant's share of the rows. Work is counted
(rows the plan read), not timed: `make bench` times the same pages at 1,000,000 rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from cancelgate.auth.clients import get_or_create_tenant
from cancelgate.console import requests_queries
from cancelgate.console.paging import NO_CURSOR, PAGE_SIZE
from cancelgate.db.database import Query
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.db.urls import libpq_url
from cancelgate.demo.fixtures import create_appointment
from cancelgate.upstream.nbn import scenarios
from tests.support import migrated_database

ROWS = 200_000
# A small tenant owns one request in RARE; the status FAILED one in 50.
RARE = 1000
# Rows a page may read from the big table: one page, and the rows a second filter skips.
READ_BOUND = 60 * PAGE_SIZE


async def _tenants_with_appointments(url: str) -> list[tuple[int, int]]:
    engine = make_engine(url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            made = []
            for name in ("small", "big"):
                tenant = await get_or_create_tenant(session, name)
                appointment = await create_appointment(
                    session, tenant_id=tenant.id, scenario=scenarios.BOOKED
                )
                made.append((tenant.id, appointment.id))
            await session.commit()
            return made
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def big(database_url: str) -> Iterator[str]:
    """A migrated database with ROWS appointment cancellations, analysed."""
    with migrated_database(database_url) as url:
        (small, small_appointment), (large, large_appointment) = asyncio.run(
            _tenants_with_appointments(url)
        )
        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            connection.execute(
                "INSERT INTO appointment_cancellations"
                " (tenant_id, appointment_id, status, request_key, requested_on)"
                " SELECT CASE WHEN g %% %(rare)s = 0 THEN %(small)s ELSE %(large)s END,"
                "  CASE WHEN g %% %(rare)s = 0 THEN %(sa)s ELSE %(la)s END,"
                "  CASE WHEN g %% 50 = 0 THEN 'FAILED' ELSE 'COMPLETED' END,"
                "  gen_random_uuid(), now() - (%(rows)s - g) * interval '1 second'"
                " FROM generate_series(1, %(rows)s) g",
                {
                    "rare": RARE,
                    "small": small,
                    "large": large,
                    "sa": small_appointment,
                    "la": large_appointment,
                    "rows": ROWS,
                },
            )
            connection.execute("ANALYZE")
        yield url


def explain(url: str, query: Query, params: dict[str, Any]) -> dict[str, Any]:
    """The executed plan of a statement, as PostgreSQL's JSON."""
    with psycopg.connect(libpq_url(url)) as connection:
        [(plan,)] = connection.execute(
            b"EXPLAIN (ANALYZE, FORMAT JSON) " + query.sql, query.bind(params)
        ).fetchall()
    found = plan if isinstance(plan, list) else json.loads(plan)
    return dict(found[0]["Plan"])


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def check_paged(url: str, query: Query, params: dict[str, Any], table: str) -> int:
    """Assert the plan reads `table` by an index, unsorted, about a page of rows; its rows."""
    plan = explain(url, query, params)
    scans = [n for n in nodes(plan) if n.get("Relation Name") == table]
    assert scans, plan
    for scan in scans:
        assert scan["Node Type"] in ("Index Scan", "Index Only Scan"), scan
        assert scan["Actual Rows"] * scan["Actual Loops"] <= READ_BOUND, scan
    assert not [n for n in nodes(plan) if n["Node Type"] in ("Sort", "Incremental Sort")], plan
    return int(plan["Actual Rows"])


@pytest.mark.parametrize(
    ("tenant", "status"),
    [(None, None), ("small", None), ("big", None), (None, "FAILED"), ("small", "FAILED")],
)
def test_appointment_cancellation_pages_read_a_page(
    big: str, tenant: str | None, status: str | None
) -> None:
    query = requests_queries.requests_page((tenant is not None, status is not None, False, False))
    params = {"tenant": tenant, "status": status, "request_id": None}
    first = check_paged(big, query, {**params, "before": NO_CURSOR}, "appointment_cancellations")
    assert first == PAGE_SIZE + 1
    # A page half way down reads no more than the first.
    deep = check_paged(big, query, {**params, "before": ROWS // 2}, "appointment_cancellations")
    assert deep == PAGE_SIZE + 1
