"""Seeding tenants, clients and fixtures straight into a test database (synchronous helpers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.clients import client_by_client_id, create_client, principal_of
from cancelgate.auth.identity import Principal
from cancelgate.clock import Clock
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.demo.service_fixtures import create_service
from cancelgate.demo.ux_fixtures import create_ux_appointment
from cancelgate.keys import instance_keys_in
from cancelgate.ux.clients import create_channel_client
from tests.support import SYDNEY

T = TypeVar("T")


def in_session(database_url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one session on the database and commit it."""

    async def main() -> T:
        engine = make_engine(database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(main())


def with_new_client(
    database_url: str, make: Callable[[AsyncSession, Principal], Awaitable[list[T]]]
) -> tuple[str, str, list[T]]:
    """A new tenant and client, and what `make` seeds as that API user; (id, secret, made)."""

    async def work(session: AsyncSession) -> tuple[str, str, list[T]]:
        keys = await instance_keys_in(session)
        client = await create_client(session, keys.pepper, tenant=f"e2e-{time.time_ns()}")
        row = await client_by_client_id(session, client.client_id)
        assert row is not None
        made = await make(session, principal_of(row))
        return client.client_id, client.client_secret, made

    return in_session(database_url, work)


def seed(database_url: str, scenario: str, count: int) -> tuple[str, str, list[int]]:
    """A tenant with a client and `count` appointments of a scenario; (id, secret, ids)."""

    async def make(session: AsyncSession, requester: Principal) -> list[int]:
        return [
            (await create_appointment(session, tenant_id=requester.tenant_id, scenario=scenario)).id
            for _ in range(count)
        ]

    return with_new_client(database_url, make)


def seed_services(database_url: str, kinds: list[str]) -> tuple[str, str, list[tuple[int, str]]]:
    """A tenant, a client and one service per scenario; (id, secret, [(id, nbn id)])."""

    async def make(session: AsyncSession, requester: Principal) -> list[tuple[int, str]]:
        services = [
            await create_service(
                session, requester=requester, scenario=kind, clock=Clock(), zone=SYDNEY
            )
            for kind in kinds
        ]
        return [(s.id, s.nbn_service_id) for s in services]

    return with_new_client(database_url, make)


def seed_ux(database_url: str, kinds: list[str]) -> list[str]:
    """One PR appointment per CSG scenario; their ids."""

    async def work(session: AsyncSession) -> list[str]:
        return [
            (await create_ux_appointment(session, business_id="PR", scenario=k)).appointment_id
            for k in kinds
        ]

    return in_session(database_url, work)


def seed_channel(database_url: str, name: str) -> tuple[str, str]:
    """A UX channel client for business unit PR; (client_id, client_secret)."""

    async def work(session: AsyncSession) -> tuple[str, str]:
        keys = await instance_keys_in(session)
        made = await create_channel_client(session, keys.pepper, name=name, business_units=["PR"])
        return made.client_id, made.client_secret

    return in_session(database_url, work)
