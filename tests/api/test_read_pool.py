"""Reads of the unit of work (`Database`, `UnitOfWork`): real PostgreSQL, connections the
server drops, a busy pool, and the service status GETs of a live server whose connections are
dropped under it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg_pool import PoolTimeout
from sqlalchemy import select

from cancelgate.auth.models import Tenant
from cancelgate.db.database import Database, Query, compiled
from cancelgate.db.urls import libpq_url
from cancelgate.runtime import APPLICATION_NAME
from cancelgate.upstream.nbn import service_scenarios as sc
from tests.e2e.seeding import seed_services
from tests.support import (
    SERVICE_REQUESTS,
    free_port,
    migrated_database,
    query,
    running,
    token_for,
)

NUMBER = Query(b"SELECT %(n)s::int", {})
NOTHING = Query(b"SELECT 1 WHERE false", {})


def drop_connections(database_url: str, application_name: str) -> int:
    """Terminate every connection of this application to this database, as a server restart
    would; how many there were."""
    rows = query(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s AND datname = current_database() AND pid <> pg_backend_pid()",
        application_name,
    )
    return sum(1 for (terminated,) in rows if terminated)


def run(database_url: str, sql: str) -> None:
    """One statement that returns nothing (DDL), committed."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(sql.encode())


def states(database_url: str, application_name: str) -> list[str]:
    """The state of every connection of this application to this database."""
    rows = query(
        database_url,
        "SELECT state FROM pg_stat_activity WHERE application_name = %s "
        "AND datname = current_database() AND pid <> pg_backend_pid()",
        application_name,
    )
    return [state for (state,) in rows]


def test_compiled_renders_named_placeholders_and_keeps_constants() -> None:
    statement = compiled(select(Tenant.id).where(Tenant.name == "x", Tenant.id == 7))
    sql = statement.sql.decode()
    assert sql.startswith("SELECT tenants.id")
    assert "%(name_1)s" in sql and "%(id_1)s" in sql
    assert statement.fixed == {"name_1": "x", "id_1": 7}
    assert statement.bind({"other": 1}) == {"name_1": "x", "id_1": 7, "other": 1}


@pytest.fixture
def application_name() -> str:
    """A name of its own, so that dropping its connections touches nobody else's."""
    return f"cancelgate-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def database(database_url: str, application_name: str) -> AsyncIterator[Database]:
    opened = Database(database_url, size=2, name=application_name)
    await opened.open()
    yield opened
    await opened.close()


async def test_reads_survive_the_server_dropping_every_connection(
    database: Database, database_url: str, application_name: str
) -> None:
    async with database.unit_of_work() as uow:
        # Two held at once: the pool keeps both, so both are dropped below.
        first, second = await asyncio.gather(uow.one(NUMBER, {"n": 1}), uow.one(NUMBER, {"n": 2}))
        assert (first, second) == ((1,), (2,))
    assert drop_connections(database_url, application_name) >= 1
    async with database.unit_of_work() as uow:
        assert await uow.one(NUMBER, {"n": 7}) == (7,)
        assert await uow.all(NUMBER, {"n": 8}) == [(8,)]
        assert await uow.scalar(NUMBER, {"n": 9}) == 9
        assert await uow.one(NOTHING) is None
    assert drop_connections(database_url, application_name) >= 1
    assert await database.one(NUMBER, {"n": 10}) == (10,)
    assert drop_connections(database_url, application_name) >= 1
    assert await database.all(NUMBER, {"n": 11}) == [(11,)]


async def test_a_transaction_begins_on_a_live_connection_after_the_server_dropped_them(
    database: Database, database_url: str, application_name: str
) -> None:
    assert await database.one(NUMBER, {"n": 1}) == (1,)
    assert drop_connections(database_url, application_name) >= 1
    async with database.unit_of_work() as uow:
        await uow.begin()
        assert uow.in_transaction
        assert await uow.one(NUMBER, {"n": 2}) == (2,)
    assert not uow.in_transaction


async def test_a_failure_that_is_not_the_connection_is_not_retried(
    database: Database, database_url: str
) -> None:
    sequence = f"read_retry_{uuid.uuid4().hex[:8]}"
    run(database_url, f"CREATE SEQUENCE {sequence}")
    try:
        # Advances the sequence (which no rollback undoes), then fails: a second run would
        # advance it again.
        failing = Query(f"SELECT nextval('{sequence}') / 0".encode(), {})
        with pytest.raises(psycopg.errors.DivisionByZero):
            await database.one(failing)
        assert query(database_url, f"SELECT last_value FROM {sequence}") == [(1,)]
        assert await database.one(NUMBER, {"n": 3}) == (3,)
    finally:
        run(database_url, f"DROP SEQUENCE {sequence}")


async def test_reads_leave_no_transaction_open_and_a_unit_ends_its_own(
    database: Database, database_url: str, application_name: str
) -> None:
    async with database.unit_of_work() as uow:
        await uow.one(NUMBER, {"n": 1})
        # Not "idle in transaction": a read outside the transaction is autocommit.
        assert states(database_url, application_name) == ["idle"]
        await uow.begin()
        await uow.one(NUMBER, {"n": 2})
        assert states(database_url, application_name) == ["idle in transaction"]
    assert states(database_url, application_name) == ["idle"]


async def test_a_pool_timeout_is_not_waited_for_twice(
    database_url: str, application_name: str
) -> None:
    single = Database(database_url, size=1, name=application_name, timeout=0.2)
    await single.open()
    try:
        async with single.unit_of_work() as holder:
            await holder.begin()  # holds the only connection until the block ends
            for read in (single.one, single.all):
                started = time.monotonic()
                with pytest.raises(PoolTimeout):
                    await read(NUMBER, {"n": 1})
                # One wait of 0.2 s, not two (a PoolTimeout is an OperationalError too).
                assert time.monotonic() - started < 0.39
        assert await single.one(NUMBER, {"n": 2}) == (2,)
    finally:
        await single.close()


@pytest.fixture
def own_database(database_url: str) -> Iterator[str]:
    """A migrated database of its own: its server's connections can all be dropped."""
    with migrated_database(database_url) as url:
        yield url


def test_status_gets_answer_after_the_server_dropped_their_connections(
    own_database: str, tmp_path: Path
) -> None:
    client_id, secret, services = seed_services(
        own_database, [sc.ACTIVE, sc.CANCELLATION_REQUESTED]
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DATABASE_URL": own_database, "CANCELGATE_DATA_DIR": str(tmp_path)}
    serve = ["serve", "--port", str(port), "--no-worker"]
    with (
        running(serve, env, tmp_path / "serve.log", base + "/healthz"),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        token = token_for(base, client_id, secret)
        paths = [(f"{SERVICE_REQUESTS}/{service_id}", "7") for service_id, _ in services] + [
            (f"/api/connect/services/{service_id}", "8") for service_id, _ in services
        ]

        def read_all() -> list[httpx.Response]:
            return [
                http.get(path, headers={"Authorization": f"Bearer {token}", "X-API-VERSION": v})
                for path, v in paths
            ]

        before = read_all()
        assert [r.status_code for r in before] == [200] * len(paths)
        assert drop_connections(own_database, APPLICATION_NAME) >= 1
        after = read_all()
        assert [r.status_code for r in after] == [200] * len(paths), [r.text for r in after]
        assert [r.json() for r in after] == [r.json() for r in before]
        (active, _), (requested, _) = services
        assert after[0].json()["serviceId"] == active and after[0].json()["status"] is None
        assert after[1].json()["serviceId"] == requested
        assert after[1].json()["status"] == "REQUESTED"
