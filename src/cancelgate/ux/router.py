"""UX API: TMF646 PATCH that cancels an appointment in CSG, synchronously."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from cancelgate.connect.openapi import answer, ux_errors
from cancelgate.dependencies import Csg, Keys, RateLimits, SettingsDep, Uow
from cancelgate.ux import service
from cancelgate.ux.channel_call import channel_call
from cancelgate.ux.errors import method_not_allowed, not_implemented
from cancelgate.ux.requests import parse_cancel_request

PATH = "/ecom-ux/v1/{business_id}/appointment/{appointment_id}"
router = APIRouter(tags=["UX API (TMF646)"])


class UxCancelledBody(BaseModel):
    """200 of the PATCH."""

    id: str
    status: str = Field(examples=["cancelled"])


PATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "title": "UxAppointmentUpdate",
                    "type": "object",
                    "required": ["status", "relatedEntity", "validFor", "characteristics"],
                    "properties": {
                        "status": {"type": "string", "enum": ["cancelled"]},
                        "relatedEntity": {"type": "array", "items": {"type": "object"}},
                        "validFor": {
                            "type": "object",
                            "properties": {
                                "endDateTime": {"type": "string", "format": "date-time"}
                            },
                        },
                        "characteristics": {"type": "array", "items": {"type": "object"}},
                    },
                }
            }
        },
    },
    "parameters": [
        {
            "name": "X-Correlation-ID",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
    ],
    # Both headers together (one requirement naming both schemes).
    "security": [{"clientId": [], "clientSecret": []}],
}


@router.patch(
    PATH,
    summary="Cancel an appointment in CSG",
    openapi_extra=PATCH_BODY,
    responses=answer(200, "Cancelled in CSG", UxCancelledBody)
    | ux_errors(400, 401, 404, 413, 429, 500, 501),
)
async def cancel_appointment(
    business_id: str,
    appointment_id: str,
    request: Request,
    uow: Uow,
    csg: Csg,
    settings: SettingsDep,
    keys: Keys,
    limiter: RateLimits,
) -> Response:
    """200 `{"id", "status": "cancelled"}`; 400, 401, 404, 429, 500, 501 in the UX envelope."""
    call = await channel_call(
        request,
        uow,
        pepper=keys.pepper,
        served_units=settings.ux_business_units,
        business_id=business_id,
        not_served=lambda unit: not_implemented("PATCH", unit),
        limiter=limiter,
    )
    appointment = await service.cancel_appointment(
        uow,
        csg=csg,
        csg_timeout_seconds=settings.csg_timeout_seconds,
        business_id=call.business_id,
        appointment_id=appointment_id,
        request=parse_cancel_request(call.data),
        correlation_id=call.correlation_id,
    )
    return JSONResponse({"id": appointment.appointment_id, "status": appointment.status})


@router.get(PATH, summary="Not implemented (501)", status_code=501, responses=ux_errors(501))
async def get_appointment(business_id: str, appointment_id: str) -> Response:
    """501, as the seed documents."""
    raise not_implemented("GET", business_id)


@router.api_route(PATH, methods=["POST", "PUT", "DELETE", "OPTIONS"], include_in_schema=False)
async def other_methods(request: Request) -> Response:
    """405 APIKIT:METHOD_NOT_ALLOWED."""
    raise method_not_allowed(request.method)
