"""What a route may declare it needs (`Annotated` FastAPI dependencies): the request's unit of
work, the settings, the business time zone, the upstream ports, the instance keys, the rate
limiter. What follows from the caller (its tenant's clock, its quotas) is in `auth/caller.py`.

They read the process's runtime that the application's lifespan built; nothing below the
routes does. Each is async: FastAPI runs a plain function dependency on a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends
from starlette.exceptions import HTTPException
from starlette.requests import Request

from cancelgate.db.database import Database, UnitOfWork
from cancelgate.db.listener import Listener
from cancelgate.keys import InstanceKeys
from cancelgate.rate_limits import RateLimiter
from cancelgate.runtime import Runtime
from cancelgate.settings import Settings
from cancelgate.upstream.csg.port import CsgPort
from cancelgate.upstream.nbn.port import NbnPort


def runtime_of(request: Request) -> Runtime:
    """The process runtime (set up by the application's lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: committed when the handler returns, rolled back when it
    raises, before the response is sent."""
    async with runtime_of(request).database.unit_of_work() as uow:
        yield uow


async def database(request: Request) -> Database:
    """The process's database (for what waits without holding a connection)."""
    return runtime_of(request).database


async def listener(request: Request) -> Listener:
    """The process's listener, for status GETs that wait on a change (`Prefer: wait`)."""
    found: Listener = request.app.state.listener
    return found


async def settings(request: Request) -> Settings:
    """The process's settings."""
    return runtime_of(request).settings


async def zone(request: Request) -> ZoneInfo:
    """The business time zone."""
    return runtime_of(request).zone


async def nbn(request: Request) -> NbnPort:
    """The nbn (simulator or HTTP adapter)."""
    return runtime_of(request).nbn


async def csg(request: Request) -> CsgPort:
    """CSG (simulator or HTTP adapter)."""
    return runtime_of(request).csg


async def sandbox_on(request: Request) -> None:
    """Nothing when the installation's sandbox is on; otherwise the 404 of an unknown path."""
    if not runtime_of(request).settings.sandbox:
        raise HTTPException(status_code=404)


async def keys(request: Request) -> InstanceKeys:
    """The installation's keys."""
    return runtime_of(request).keys


async def rate_limiter(request: Request) -> RateLimiter:
    """The process's rate limiter (built by the application's lifespan)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


# scope="function": the unit ends when the handler returns, before the response goes out, so
# a commit that fails is the request's error and never follows a success already sent.
Uow = Annotated[UnitOfWork, Depends(unit_of_work, scope="function")]
DatabaseDep = Annotated[Database, Depends(database)]
ListenerDep = Annotated[Listener, Depends(listener)]
SettingsDep = Annotated[Settings, Depends(settings)]
ZoneDep = Annotated[ZoneInfo, Depends(zone)]
Nbn = Annotated[NbnPort, Depends(nbn)]
Csg = Annotated[CsgPort, Depends(csg)]
Keys = Annotated[InstanceKeys, Depends(keys)]
RateLimits = Annotated[RateLimiter, Depends(rate_limiter)]
# Every sandbox route lists it: `dependencies=[SandboxOn]`.
SandboxOn = Depends(sandbox_on)
