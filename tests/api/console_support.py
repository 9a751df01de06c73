"""What the console's tests share: an operator made by the command line, the app in process
on a migrated database of the module's own, logging in, reading CSRF tokens, seeding clients
and requests."""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from cancelgate.app import create_app
from cancelgate.auth.clients import create_client
from cancelgate.auth.models import Tenant
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.keys import InstanceKeys, instance_keys_in
from cancelgate.settings import Settings
from cancelgate.upstream.nbn import scenarios
from tests.support import CANCELGATE, clean_env, query

BASE = "http://cancelgate.test"
XSS = "<script>alert('x')</script>"


def create_operator(
    database_url: str, tmp_path: Path, email: str, password: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`cancelgate operators create` (with --password-stdin when a password is given)."""
    env = clean_env(tmp_path) | {"DATABASE_URL": database_url, "CANCELGATE_LOG_LEVEL": "WARNING"}
    args = [CANCELGATE, "operators", "create", "--email", email]
    if password is not None:
        args.append("--password-stdin")
    return subprocess.run(
        args, env=env, input=password or "", capture_output=True, text=True, timeout=60
    )


@dataclass
class Operator:
    email: str
    password: str


@asynccontextmanager
async def in_process(
    database_url: str, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app (no worker unless asked) on the database, started, and an HTTP client of it
    (no redirects followed)."""
    settings = Settings(
        **{"in_process_worker": False, "log_level": "WARNING", **overrides},
        database_url=database_url,
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http,
    ):
        yield app, http


@asynccontextmanager
async def console(database_url: str, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app (no worker) on the database, and an HTTP client of it (no redirects followed)."""
    async with in_process(database_url, **overrides) as (_, http):
        yield http


async def login(
    http: httpx.AsyncClient, email: str, password: str, next_: str = ""
) -> httpx.Response:
    """The login form fetched, then posted."""
    page = await http.get("/console/login")
    assert page.status_code == 200, page.text
    token = csrf_of(page.text)
    data = {"csrf": token, "email": email, "password": password}
    if next_:
        data["next"] = next_
    return await http.post("/console/login", data=data)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def logged_in(http: httpx.AsyncClient, operator: Operator) -> str:
    """Log in; the session's CSRF token (read from a page's form)."""
    response = await login(http, operator.email, operator.password)
    assert response.status_code == 303, response.text
    page = await http.get("/console")
    assert page.status_code == 200
    return csrf_of(page.text)


async def keys_of(database_url: str) -> InstanceKeys:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            return await instance_keys_in(session)
    finally:
        await engine.dispose()


def enabled(database_url: str, client_id: str) -> bool:
    [(value,)] = query(
        database_url, "SELECT enabled FROM api_clients WHERE client_id = %s", client_id
    )
    return bool(value)


async def make_client(database_url: str, *, tenant: str, name: str) -> dict[str, Any]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            keys = await instance_keys_in(session)
            created = await create_client(session, keys.pepper, tenant=tenant, display_name=name)
            await session.commit()
            return {"client_id": created.client_id, "secret": created.client_secret}
    finally:
        await engine.dispose()


async def seed_requests(database_url: str, tenant: str, client_name: str, n: int) -> list[int]:
    """n completed appointment cancellations of one appointment of a new tenant; their ids."""
    made = await make_client(database_url, tenant=tenant, name=client_name)
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session:
            [tenant_row] = (
                await session.execute(Tenant.__table__.select().where(Tenant.name == tenant))
            ).all()
            appointment = await create_appointment(
                session, tenant_id=tenant_row.id, scenario=scenarios.BOOKED
            )
            await session.commit()
            appointment_id = appointment.id
    finally:
        await engine.dispose()
    rows = query(
        database_url,
        "INSERT INTO appointment_cancellations"
        " (tenant_id, appointment_id, client_id, status, request_key, requested_on)"
        " SELECT %s, %s, (SELECT id FROM api_clients WHERE client_id = %s), 'COMPLETED',"
        " gen_random_uuid(), %s FROM generate_series(1, %s) RETURNING id",
        tenant_row.id,
        appointment_id,
        made["client_id"],
        datetime.now(UTC),
        n,
    )
    return sorted(row[0] for row in rows)


NEXT_PAGE = re.compile(r'rel="next" href="([^"]+)"')


async def walk_pages(
    http: httpx.AsyncClient, url: str | None, listed: re.Pattern[str], *, most: int = 10
) -> tuple[list[int], int]:
    """Every id `listed` (a pattern whose group is an id) from `url` on, following the Older
    links, and how many pages: each a 200 of at most a page of rows, at most `most` pages."""
    seen: list[int] = []
    pages = 0
    while url is not None:
        page = await http.get(url)
        assert page.status_code == 200, page.text
        found = [int(i) for i in listed.findall(page.text)]
        assert len(found) <= 50
        seen += found
        pages += 1
        assert pages <= most, "the pages never end"
        nxt = NEXT_PAGE.search(page.text)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
    return seen, pages
