"""Seeding tenants, clients and services straight into a test database."""

from __future__ import annotations

import asyncio
import time
from zoneinfo import ZoneInfo

from cancelgate.auth.clients import create_client
from cancelgate.auth.keys import load_instance_keys
from cancelgate.auth.principal import principal_of
from cancelgate.auth.repository import client_by_client_id
from cancelgate.clock import Clock
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.service_fixtures import create_service

SYDNEY = ZoneInfo("Australia/Sydney")


def seed_services(database_url: str, kinds: list[str]) -> tuple[str, str, list[tuple[int, str]]]:
    """A tenant, a client and one service per scenario; (id, secret, [(id, nbn id)])."""

    async def main() -> tuple[str, str, list[tuple[int, str]]]:
        engine = make_engine(database_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                keys = await load_instance_keys(session)
                client = await create_client(session, keys.pepper, tenant=f"e2e-{time.time_ns()}")
                row = await client_by_client_id(session, client.client_id)
                assert row is not None
                services = [
                    await create_service(
                        session,
                        requester=principal_of(row),
                        scenario=scenario,
                        clock=Clock(),
                        zone=SYDNEY,
                    )
                    for scenario in kinds
                ]
                await session.commit()
                pairs = [(s.id, s.nbn_service_id) for s in services]
            return client.client_id, client.client_secret, pairs
        finally:
            await engine.dispose()

    return asyncio.run(main())
