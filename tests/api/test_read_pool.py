"""The status GETs' read pool: real PostgreSQL, connections the server drops, the live API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from psycopg_pool import PoolTimeout
from sqlalchemy import select

from cancelgate.auth.models import Tenant
from cancelgate.db.reads import APPLICATION_NAME, ReadPool, read_query
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from tests.api.checks import poll
from tests.api.conftest import Caller
from tests.support import REQUEST, SERVICE_REQUESTS, query


def drop_read_connections(database_url: str) -> int:
    """Terminate every read-pool connection to this database, as a server restart would."""
    rows = query(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = current_database()",
        APPLICATION_NAME,
    )
    return sum(1 for (terminated,) in rows if terminated)


def test_read_query_renders_named_placeholders() -> None:
    sql = read_query(select(Tenant.id).where(Tenant.name == "x")).decode()
    assert "%(name_1)s" in sql and sql.startswith("SELECT tenants.id")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[ReadPool]:
    reads = ReadPool(database_url, size=2)
    await reads.open()
    yield reads
    await reads.close()


async def test_reads_survive_the_server_dropping_every_connection(
    pool: ReadPool, database_url: str
) -> None:
    assert await pool.one(b"SELECT %(n)s::int", {"n": 7}) == (7,)
    assert drop_read_connections(database_url) >= 1
    assert await pool.one(b"SELECT %(n)s::int", {"n": 8}) == (8,)
    assert await pool.one(b"SELECT 1 WHERE false", {}) is None


async def test_a_failure_that_is_not_the_connection_is_not_retried(pool: ReadPool) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable):
        await pool.one(b"SELECT * FROM no_such_table", {})
    assert await pool.one(b"SELECT 1", {}) == (1,)


async def test_read_connections_are_autocommit(pool: ReadPool, database_url: str) -> None:
    await pool.one(b"SELECT 1", {})
    states = query(
        database_url,
        "SELECT state FROM pg_stat_activity WHERE application_name = %s AND pid <> "
        "pg_backend_pid() AND datname = current_database()",
        APPLICATION_NAME,
    )
    # Not "idle in transaction": a read leaves nothing open between requests.
    assert states and all(state == "idle" for (state,) in states)


async def test_status_gets_answer_after_the_server_dropped_their_connections(
    caller: Caller, database_url: str
) -> None:
    appointment = await caller.appointment(scenarios.BOOKED)
    posted = await caller.http.post(
        REQUEST,
        json={"appointmentId": appointment.id},
        headers=caller.headers(),
    )
    location = posted.headers["location"]
    first = await poll(caller, location)
    assert first.status_code == 200
    service = await caller.service(sc.ACTIVE)
    service_path = f"{SERVICE_REQUESTS}/{service.id}"
    assert (await caller.http.get(service_path, headers=caller.headers("7"))).status_code == 200

    assert drop_read_connections(database_url) >= 1

    again = await caller.http.get(location, headers=caller.headers())
    assert again.status_code == 200 and again.json() == first.json()
    resource = await caller.http.get(service_path, headers=caller.headers("7"))
    assert resource.status_code == 200
    assert resource.json()["serviceId"] == service.id and resource.json()["status"] is None


async def test_a_pool_timeout_is_not_waited_for_twice(database_url: str) -> None:
    pool = ReadPool(database_url, size=1, timeout=0.2)
    await pool.open()
    try:
        busy = asyncio.create_task(pool.one(b"SELECT pg_sleep(1.5)", {}))
        await asyncio.sleep(0.1)  # the long read holds the only connection
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            await pool.one(b"SELECT 1", {})
        # One wait of 0.2 s, not two (a PoolTimeout is an OperationalError too).
        assert time.monotonic() - started < 0.39
        await busy
    finally:
        await pool.close()
