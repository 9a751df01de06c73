"""Everything a process shares between requests and jobs: settings, database, keys, ports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import procrastinate
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cancelgate.auth.keys import InstanceKeys, load_instance_keys
from cancelgate.auth.principal_cache import PrincipalCache
from cancelgate.clock import Clock
from cancelgate.db.engine import make_engine, make_sessionmaker, resolve_database_url
from cancelgate.db.reads import ReadPool
from cancelgate.egress import egress_client
from cancelgate.jobs.app import jobs_app, open_jobs
from cancelgate.settings import Settings
from cancelgate.upstream.csg.factory import make_csg_port
from cancelgate.upstream.csg.port import CsgPort
from cancelgate.upstream.nbn.factory import make_nbn_port
from cancelgate.upstream.nbn.port import NbnPort


@dataclass
class Runtime:
    """The shared state of one process."""

    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    keys: InstanceKeys
    nbn: NbnPort
    jobs: procrastinate.App
    jobs_pool: AsyncConnectionPool
    clock: Clock
    zone: ZoneInfo
    csg: CsgPort
    # Every webhook attempt of this process: dialled at the checked address, no redirects.
    webhook_http: httpx.AsyncClient
    principals: PrincipalCache
    reads: ReadPool

    async def close(self) -> None:
        """Release connections and clients."""
        await self.nbn.close()
        await self.csg.close()
        await self.webhook_http.aclose()
        await self.jobs.close_async()
        await self.jobs_pool.close()
        await self.reads.close()
        await self.engine.dispose()


async def open_runtime(settings: Settings) -> Runtime:
    """Connect to the database (embedded if none is configured) and build the ports."""
    url = resolve_database_url(settings)
    # Fixed size: overflow connections are opened and closed again under load (profiled).
    engine = make_engine(url, pool_size=settings.db_pool_size, max_overflow=0)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        keys = await load_instance_keys(session)
    jobs_pool = await open_jobs(url)
    reads = ReadPool(url, size=settings.db_read_pool_size)
    await reads.open()
    nbn = make_nbn_port(settings, sessions)
    clock = Clock(timedelta(seconds=settings.clock_offset_seconds))
    zone = ZoneInfo(settings.business_timezone)
    csg = make_csg_port(settings, sessions)
    webhook_http = egress_client(
        timeout=settings.webhook_timeout_seconds,
        allow_insecure=settings.webhook_allow_insecure,
        proxy=settings.webhook_proxy,
    )
    return Runtime(
        settings,
        url,
        engine,
        sessions,
        keys,
        nbn,
        jobs_app,
        jobs_pool,
        clock,
        zone,
        csg,
        webhook_http,
        PrincipalCache(settings.principal_cache_seconds),
        reads,
    )
