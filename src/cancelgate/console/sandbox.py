"""The sandbox pages (only while the installation's sandbox is on; else every path is unknown):
fixtures made for a tenant or a business unit, and a tenant's test clock moved forward.

Each action validates its input with the sandbox API's own command and calls the function the
API's route calls (fixtures, the tenant's clock): the same effect, no second implementation."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Form, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from cancelgate.auth.tenant_clock import BackInTime, clocks_of
from cancelgate.console import repository, sandbox_queries
from cancelgate.console.sandbox_queries import SandboxTenant
from cancelgate.console.web import (
    Acting,
    Current,
    CurrentOperator,
    console_router,
    redirect,
    refused,
    render,
    text_filter,
    utc_instant,
)
from cancelgate.dependencies import (
    DatabaseDep,
    SandboxOn,
    SettingsDep,
    Uow,
    ZoneDep,
    runtime_of,
)
from cancelgate.sandbox import fixtures
from cancelgate.sandbox.clock import AdvanceClockCommand, advance, clock_body
from cancelgate.sandbox.schemas import (
    AppointmentFixturesCommand,
    ServiceFixturesCommand,
    UxAppointmentFixturesCommand,
    appointment_fixture_body,
    service_fixture_body,
    ux_appointment_fixture_body,
)

Command = TypeVar("Command", bound=BaseModel)
TenantName = Annotated[str, Form(max_length=100)]
Scenario = Annotated[str, Form(max_length=100)]
Count = Annotated[str, Form(max_length=10)]

router = console_router()


def _command(model: type[Command], data: dict[str, Any]) -> Command | str:
    """The API's command from the form's fields, or what is wrong with them (as the API says)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "form"
        return f"{field}: {error['msg']}"


async def _tenant(database: DatabaseDep, name: str) -> SandboxTenant | None:
    found = text_filter(name, 100)
    return None if found is None else await sandbox_queries.tenant_named(database, found)


@router.get("/sandbox", dependencies=[SandboxOn])
async def sandbox_page(
    request: Request,
    operator: CurrentOperator,
    uow: Uow,
    database: DatabaseDep,
    settings: SettingsDep,
    zone: ZoneDep,
    tenant: str | None = None,
) -> Response:
    """The fixture and clock forms, and the chosen tenant's clock."""
    chosen = None if tenant is None else await _tenant(database, tenant)
    if tenant and tenant.strip() and chosen is None:
        return refused(request, operator, "No such tenant.", 404)
    clock = None
    if chosen is not None:
        clock = clock_body(await clocks_of(runtime_of(request)).of(uow, chosen.id), zone)
    return render(
        request,
        "sandbox.html",
        {
            "me": operator,
            "tenant": chosen,
            "clock": clock,
            "appointment_scenarios": fixtures.APPOINTMENT_SCENARIOS,
            "service_scenarios": fixtures.SERVICE_SCENARIOS,
            "ux_scenarios": fixtures.UX_SCENARIOS,
            "business_units": sorted(settings.ux_business_units),
            "max_count": fixtures.MAX_COUNT,
        },
    )


def _made(
    request: Request, operator: Current, what: str, owner: str, rows: list[dict[str, Any]]
) -> Response:
    """The page of what was just made: every id, as the API's answer shows them."""
    return render(
        request,
        "sandbox_created.html",
        {"me": operator, "what": what, "owner": owner, "rows": rows},
    )


async def _audit(
    uow: Uow, operator: Current, action: str, target: str, detail: dict[str, Any]
) -> None:
    await repository.audit(
        uow, operator_id=operator.operator_id, action=action, target=target, detail=detail
    )


@router.post("/sandbox/appointments", dependencies=[SandboxOn])
async def create_appointments(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    operator: Acting,
    tenant: TenantName = "",
    scenario: Scenario = "",
    count: Count = "1",
) -> Response:
    """Appointments of the tenant playing a scenario (POST /api/connect/sandbox/appointments)."""
    command = _command(AppointmentFixturesCommand, {"scenario": scenario, "count": count})
    if isinstance(command, str):
        return refused(request, operator, command, 422)
    found = await _tenant(database, tenant)
    if found is None:
        return refused(request, operator, "No such tenant.", 404)
    clock = await clocks_of(runtime_of(request)).of(uow, found.id)
    made = await fixtures.create_appointments(
        uow, tenant_id=found.id, scenario=command.scenario, count=command.count, now=clock.now()
    )
    await _audit(
        uow,
        operator,
        "sandbox.appointments",
        f"tenant:{found.name}",
        {"scenario": command.scenario, "count": len(made)},
    )
    rows = [appointment_fixture_body(m) for m in made]
    return _made(request, operator, "appointments", found.name, rows)


@router.post("/sandbox/services", dependencies=[SandboxOn])
async def create_services(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    operator: Acting,
    zone: ZoneDep,
    tenant: TenantName = "",
    scenario: Scenario = "",
    count: Count = "1",
) -> Response:
    """Services of the tenant playing a scenario (POST /api/connect/sandbox/services), their
    cancellations requested as the tenant's oldest enabled client."""
    command = _command(ServiceFixturesCommand, {"scenario": scenario, "count": count})
    if isinstance(command, str):
        return refused(request, operator, command, 422)
    found = await _tenant(database, tenant)
    if found is None:
        return refused(request, operator, "No such tenant.", 404)
    if found.requester is None:
        message = "The tenant has no enabled client to request the cancellations as."
        return refused(request, operator, message, 422)
    clock = await clocks_of(runtime_of(request)).of(uow, found.id)
    made = await fixtures.create_services(
        uow,
        requester=found.requester,
        scenario=command.scenario,
        count=command.count,
        clock=clock,
        zone=zone,
    )
    await _audit(
        uow,
        operator,
        "sandbox.services",
        f"tenant:{found.name}",
        {"scenario": command.scenario, "count": len(made), "as": found.requester.client_id},
    )
    rows = [service_fixture_body(m) for m in made]
    return _made(request, operator, "services", found.name, rows)


@router.post("/sandbox/ux-appointments", dependencies=[SandboxOn])
async def create_ux_appointments(
    request: Request,
    uow: Uow,
    settings: SettingsDep,
    operator: Acting,
    business_unit: Annotated[str, Form(max_length=10)] = "",
    scenario: Scenario = "",
    count: Count = "1",
) -> Response:
    """UX appointments of a business unit this installation serves, playing a CSG scenario
    (POST /ecom-ux/v1/{businessId}/sandbox/appointments)."""
    command = _command(UxAppointmentFixturesCommand, {"scenario": scenario, "count": count})
    if isinstance(command, str):
        return refused(request, operator, command, 422)
    unit = business_unit.strip().upper()
    if unit not in settings.ux_business_units:
        return refused(request, operator, "This installation does not serve that business unit.")
    made = await fixtures.create_ux_appointments(
        uow, business_id=unit, scenario=command.scenario, count=command.count
    )
    await _audit(
        uow,
        operator,
        "sandbox.ux-appointments",
        f"business-unit:{unit}",
        {"scenario": command.scenario, "count": len(made)},
    )
    rows = [ux_appointment_fixture_body(m) for m in made]
    return _made(request, operator, "UX appointments", unit, rows)


@router.post("/sandbox/clock", dependencies=[SandboxOn])
async def advance_clock(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    operator: Acting,
    tenant: TenantName = "",
    to: Annotated[str, Form(max_length=40)] = "",
    seconds: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Move the tenant's clock forward, to a time (UTC) or by seconds, and bring what came due
    forward (POST /api/connect/sandbox/clock/advance)."""
    data: dict[str, Any] = {}
    if to.strip():
        instant = utc_instant(to.strip())
        if instant is None:
            return refused(request, operator, "Give the time as YYYY-MM-DDTHH:MM (UTC).", 422)
        data["to"] = instant.isoformat()
    if seconds.strip():
        data["seconds"] = seconds.strip()
    command = _command(AdvanceClockCommand, data)
    if isinstance(command, str):
        return refused(request, operator, command, 422)
    found = await _tenant(database, tenant)
    if found is None:
        return refused(request, operator, "No such tenant.", 404)
    try:
        clock = await advance(uow, clocks_of(runtime_of(request)), found.id, command)
    except BackInTime as exc:  # refused before anything was written
        return refused(request, operator, str(exc), 422)
    await _audit(
        uow,
        operator,
        "sandbox.clock.advance",
        f"tenant:{found.name}",
        {
            "to": command.to,
            "seconds": command.seconds,
            "offset_seconds": round(clock.offset.total_seconds(), 3),
        },
    )
    return redirect("/sandbox?" + urlencode({"tenant": found.name}))
