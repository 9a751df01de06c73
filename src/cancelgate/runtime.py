"""What one process shares between its requests and jobs, built once at start: the composition
root. Only the boundaries read it (request dependencies, the job wrapper); services receive
what they need as arguments."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import httpx
import procrastinate

from cancelgate.clock import Clock
from cancelgate.db.database import Database
from cancelgate.db.engine import resolve_database_url
from cancelgate.egress import egress_client
from cancelgate.installation import sandbox_on
from cancelgate.jobs.app import jobs_app, open_jobs
from cancelgate.keys import InstanceKeys, load_instance_keys
from cancelgate.settings import Settings
from cancelgate.upstream.csg.factory import make_csg_port
from cancelgate.upstream.csg.port import CsgPort
from cancelgate.upstream.nbn.factory import make_nbn_port
from cancelgate.upstream.nbn.port import NbnPort

APPLICATION_NAME = "cancelgate"


@dataclass
class Runtime:
    """The shared state of one process."""

    settings: Settings
    database_url: str
    database: Database
    keys: InstanceKeys
    nbn: NbnPort
    jobs: procrastinate.App
    # The installation's clock (a sandbox tenant's runs ahead of it: `auth/tenant_clock.py`).
    clock: Clock
    zone: ZoneInfo
    csg: CsgPort
    # Every webhook attempt of this process: dialled at the checked address, no redirects.
    webhook_http: httpx.AsyncClient

    async def close(self) -> None:
        """Release connections and clients."""
        await self.nbn.close()
        await self.csg.close()
        await self.webhook_http.aclose()
        await self.jobs.close_async()
        await self.database.close()


async def open_runtime(settings: Settings) -> Runtime:
    """Connect to the database (embedded if none is configured) and build the ports."""
    url = resolve_database_url(settings)
    database = Database(url, size=settings.db_pool_size, name=APPLICATION_NAME)
    await database.open()
    keys = await load_instance_keys(database)
    await open_jobs(database.pool)
    if settings.sandbox or await sandbox_on(database):
        # The installation's sandbox, whichever process turned it on; it delivers to the
        # developer's own machine (http, loopback). `settings.sandbox` is then the one truth.
        settings = settings.model_copy(update={"sandbox": True, "webhook_allow_insecure": True})
    return Runtime(
        settings=settings,
        database_url=url,
        database=database,
        keys=keys,
        nbn=make_nbn_port(settings, database),
        jobs=jobs_app,
        clock=Clock(),
        zone=ZoneInfo(settings.business_timezone),
        csg=make_csg_port(settings, database),
        webhook_http=egress_client(
            timeout=settings.webhook_timeout_seconds,
            allow_insecure=settings.webhook_allow_insecure,
            proxy=settings.webhook_proxy,
        ),
    )
