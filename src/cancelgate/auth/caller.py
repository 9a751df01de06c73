"""What a Connect route may declare about its caller: its tenant's business clock and its
quotas. They follow from the principal, so they live with it (FastAPI solves the principal
once per request and shares it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from cancelgate.auth.principal import Caller
from cancelgate.auth.tenant_clock import TenantClocks, clocks_of
from cancelgate.clock import Clock
from cancelgate.connect.errors import too_many_requests
from cancelgate.dependencies import RateLimits, Uow, runtime_of
from cancelgate.rate_limits import Family


async def clock(request: Request, principal: Caller, uow: Uow) -> Clock:
    """The caller's business clock: the installation's, or its tenant's test clock in the
    sandbox (read in the request's unit of work)."""
    return await clocks_of(runtime_of(request)).of(uow, principal.tenant_id)


async def tenant_clocks(request: Request) -> TenantClocks:
    """The installation's clock and the tenants' (for the sandbox's clock routes)."""
    return clocks_of(runtime_of(request))


async def status_limit(request: Request, principal: Caller, limiter: RateLimits) -> None:
    """The caller's quota of status GETs: counted, or 429."""
    await limiter.enforce(request.scope, Family.STATUS, principal.client_id, too_many_requests)


async def command_limit(request: Request, principal: Caller, limiter: RateLimits) -> None:
    """The caller's quota of cancellation commands: counted, or 429."""
    await limiter.enforce(request.scope, Family.COMMANDS, principal.client_id, too_many_requests)


ClockDep = Annotated[Clock, Depends(clock)]
TenantClocksDep = Annotated[TenantClocks, Depends(tenant_clocks)]
# The Connect families' limits, per client, after authentication (a 429 in the Connect format):
# the status GETs and the cancellation commands list one, `dependencies=[StatusLimit]`.
StatusLimit = Depends(status_limit)
CommandLimit = Depends(command_limit)
