"""UX API sandbox: appointments on demand in a business unit the channel client may use (its
headers and rules as the PATCH's, errors in the UX envelope; 404 where the sandbox is off)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.responses import JSONResponse, Response

from cancelgate.connect.openapi import (
    UxErrorBody,
    answer,
    error_responses,
    json_body,
    ux_errors,
)
from cancelgate.dependencies import Keys, SandboxOn, SettingsDep, Uow
from cancelgate.sandbox import fixtures
from cancelgate.sandbox.schemas import (
    UxAppointmentFixtureList,
    UxAppointmentFixturesCommand,
    ux_appointment_fixture_body,
)
from cancelgate.ux.channel_call import channel_call
from cancelgate.ux.errors import UxError, bad_request
from cancelgate.ux.requests import invalid
from cancelgate.ux.router import PATCH_BODY

PATH = "/ecom-ux/v1/{business_id}/sandbox/appointments"
ROUTE_TEMPLATE = "/{businessId}/sandbox/appointments"
router = APIRouter(tags=["Sandbox"], dependencies=[SandboxOn])

POST_BODY = {
    **json_body(UxAppointmentFixturesCommand),
    # The PATCH's headers and credentials: X-Correlation-ID, client_id and client_secret.
    "parameters": PATCH_BODY["parameters"],
    "security": PATCH_BODY["security"],
}
SANDBOX_OFF = error_responses(UxErrorBody, {404: "The installation's sandbox is off"}, 404)


def not_implemented(business_id: str) -> UxError:
    """501 for a business unit this installation does not serve."""
    return UxError(
        501,
        "Not implemented",
        f"Operation POST {ROUTE_TEMPLATE} for Business Id: {business_id} not implemented",
    )


def _invalid_field(error: ErrorDetails, count_limit: int) -> UxError:
    """400 naming the field of the body that is wrong, and why."""
    field = ".".join(str(part) for part in error["loc"]) or "body"
    kind = error["type"]
    if kind == "missing":
        reason = "is required"
    elif kind.startswith("constraints."):
        reason = error["msg"]
    elif kind in ("greater_than_equal", "less_than_equal"):
        reason = f"must be from 1 to {count_limit}"
    elif kind.startswith("int"):
        reason = "must be an integer"
    elif kind.startswith("string"):
        reason = "must be a string"
    else:
        reason = error["msg"]
    return invalid(field, reason)


def read_ux_command(data: Any) -> UxAppointmentFixturesCommand:
    """The command in a decoded JSON body, or the UX 400 that names what is wrong."""
    if not isinstance(data, dict):
        raise bad_request()
    try:
        return UxAppointmentFixturesCommand.model_validate(data, strict=True)
    except ValidationError as exc:
        raise _invalid_field(exc.errors()[0], fixtures.MAX_COUNT) from None


@router.post(
    PATH,
    status_code=201,
    summary="Sandbox: make UX appointments of a business unit that play a CSG scenario",
    openapi_extra=POST_BODY,
    responses=answer(201, "Made, each ready for the PATCH", UxAppointmentFixtureList)
    | ux_errors(400, 401, 413, 501)
    | SANDBOX_OFF,
)
async def create_ux_appointments(
    business_id: str,
    request: Request,
    uow: Uow,
    settings: SettingsDep,
    keys: Keys,
) -> JSONResponse:
    """201 with the appointments made (1 to 1000, in one transaction); 400, 401, 501 in the UX
    envelope, checked in the PATCH's order."""
    call = await channel_call(
        request,
        uow,
        pepper=keys.pepper,
        served_units=settings.ux_business_units,
        business_id=business_id,
        not_served=not_implemented,
    )
    command = read_ux_command(call.data)
    made = await fixtures.create_ux_appointments(
        uow, business_id=call.business_id, scenario=command.scenario, count=command.count
    )
    return JSONResponse([ux_appointment_fixture_body(m) for m in made], status_code=201)


@router.api_route(
    PATH, methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"], include_in_schema=False
)
async def other_methods(request: Request) -> Response:
    """405 as APIKit words it: only POST is served here."""
    raise UxError(
        405,
        "APIKIT:METHOD_NOT_ALLOWED",
        f"HTTP Method {request.method} not allowed for : {ROUTE_TEMPLATE}",
        headers={"Allow": "POST"},
    )
