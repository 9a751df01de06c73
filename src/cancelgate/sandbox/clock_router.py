"""Connect sandbox: the caller's test clock (`GET /api/connect/sandbox/clock`, `POST …/advance`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from cancelgate.auth.caller import ClockDep, TenantClocksDep
from cancelgate.auth.principal import Caller
from cancelgate.auth.tenant_clock import BackInTime
from cancelgate.connect.body import read_command
from cancelgate.connect.errors import rule_violation
from cancelgate.connect.openapi import COMMAND, READ, answer, connect_errors, json_body
from cancelgate.connect.versions import SANDBOX_VERSIONS, api_version
from cancelgate.dependencies import SandboxOn, Uow, ZoneDep
from cancelgate.domain.errors import SubError
from cancelgate.sandbox.clock import (
    ADVANCE_OBJECT,
    AdvanceClockCommand,
    ClockBody,
    advance,
    clock_body,
)

router = APIRouter(prefix="/api/connect/sandbox/clock", tags=["Sandbox"], dependencies=[SandboxOn])
version = api_version(SANDBOX_VERSIONS)


@router.get(
    "",
    summary="Sandbox: the caller's test clock",
    responses=answer(200, "The tenant's clock", ClockBody) | connect_errors(*READ),
)
async def get_clock(
    clock: ClockDep, zone: ZoneDep, _version: int = Depends(version)
) -> JSONResponse:
    """Now on the tenant's clock, and how far it runs ahead."""
    return JSONResponse(clock_body(clock, zone))


@router.post(
    "/advance",
    summary="Sandbox: move the caller's test clock forward (what came due then runs)",
    openapi_extra=json_body(AdvanceClockCommand),
    responses=answer(200, "The tenant's clock, moved", ClockBody) | connect_errors(*COMMAND),
)
async def advance_clock(
    request: Request,
    principal: Caller,
    uow: Uow,
    clocks: TenantClocksDep,
    zone: ZoneDep,
    _version: int = Depends(version),
) -> JSONResponse:
    """200 with the new clock; 422 for a move backwards."""
    command = await read_command(request, AdvanceClockCommand, ADVANCE_OBJECT)
    try:
        clock = await advance(uow, clocks, principal.tenant_id, command)
    except BackInTime as exc:
        field = "to" if command.to is not None else "seconds"
        rejected = command.to if command.to is not None else command.seconds
        sub = SubError("constraints.clock.forward", str(exc), ADVANCE_OBJECT, field, rejected)
        raise rule_violation([sub]) from None
    return JSONResponse(clock_body(clock, zone))
