"""Connect sandbox: the scenario catalogue, and fixtures on demand in the caller's tenant
(bearer token, X-API-VERSION, the standard error format; 404 where the sandbox is off)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse

from cancelgate.auth.caller import ClockDep
from cancelgate.auth.principal import Caller
from cancelgate.connect.body import read_command
from cancelgate.connect.openapi import (
    COMMAND,
    ConnectErrorBody,
    answer,
    connect_errors,
    error_responses,
    json_body,
)
from cancelgate.connect.versions import SANDBOX_VERSIONS, api_version
from cancelgate.dependencies import SandboxOn, Uow, ZoneDep
from cancelgate.sandbox import fixtures
from cancelgate.sandbox.schemas import (
    APPOINTMENTS_OBJECT,
    CATALOGUE,
    SERVICES_OBJECT,
    AppointmentFixtureList,
    AppointmentFixturesCommand,
    SandboxScenarioCatalogue,
    ServiceFixtureList,
    ServiceFixturesCommand,
    appointment_fixture_body,
    service_fixture_body,
)

PREFIX = "/api/connect/sandbox"
router = APIRouter(prefix=PREFIX, tags=["Sandbox"], dependencies=[SandboxOn])
version = api_version(SANDBOX_VERSIONS)
# Where the installation's sandbox is off, every sandbox path is unknown.
SANDBOX_OFF = error_responses(
    ConnectErrorBody, {404: "The installation's sandbox is off: no such path"}, 404
)
# Built once: it changes only with a release.
CATALOGUE_BODY: dict[str, Any] = CATALOGUE.model_dump()


@router.get(
    "/scenarios",
    summary="Sandbox: every scenario a fixture can play, and what a cancellation of it does",
    responses=answer(200, "The catalogue", SandboxScenarioCatalogue)
    | connect_errors(400, 401)
    | SANDBOX_OFF,
)
async def list_scenarios(_principal: Caller, _version: int = Depends(version)) -> JSONResponse:
    """The scenarios of appointments, services and UX appointments, as the README lists them."""
    return JSONResponse(CATALOGUE_BODY)


@router.post(
    "/appointments",
    status_code=201,
    summary="Sandbox: make appointments of the caller's tenant that play a scenario",
    openapi_extra=json_body(AppointmentFixturesCommand),
    responses=answer(201, "Made, each ready to cancel", AppointmentFixtureList)
    | connect_errors(*COMMAND)
    | SANDBOX_OFF,
)
async def create_appointments(
    request: Request,
    principal: Caller,
    uow: Uow,
    clock: ClockDep,
    _version: int = Depends(version),
) -> JSONResponse:
    """201 with the appointments made (1 to 1000, in one transaction); 422 for an unknown
    scenario or a count out of range."""
    command = await read_command(request, AppointmentFixturesCommand, APPOINTMENTS_OBJECT)
    made = await fixtures.create_appointments(
        uow,
        tenant_id=principal.tenant_id,
        scenario=command.scenario,
        count=command.count,
        now=clock.now(),
    )
    return JSONResponse([appointment_fixture_body(m) for m in made], status_code=201)


@router.post(
    "/services",
    status_code=201,
    summary="Sandbox: make services of the caller's tenant that play a scenario",
    openapi_extra=json_body(ServiceFixturesCommand),
    responses=answer(201, "Made, each ready to cancel", ServiceFixtureList)
    | connect_errors(*COMMAND)
    | SANDBOX_OFF,
)
async def create_services(
    request: Request,
    principal: Caller,
    uow: Uow,
    clock: ClockDep,
    zone: ZoneDep,
    _version: int = Depends(version),
) -> JSONResponse:
    """201 with the services made (1 to 1000, in one transaction, with the cancellations their
    scenario starts with); 422 for an unknown scenario or a count out of range."""
    command = await read_command(request, ServiceFixturesCommand, SERVICES_OBJECT)
    made = await fixtures.create_services(
        uow,
        requester=principal,
        scenario=command.scenario,
        count=command.count,
        clock=clock,
        zone=zone,
    )
    return JSONResponse([service_fixture_body(m) for m in made], status_code=201)
