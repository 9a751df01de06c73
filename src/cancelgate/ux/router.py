"""UX API: TMF646 PATCH that cancels an appointment in CSG, synchronously."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from cancelgate.connect.body import is_json_content_type
from cancelgate.connect.openapi import answer, ux_errors
from cancelgate.dependencies import Csg, Keys, SettingsDep, Uow
from cancelgate.json_input import NotJson, parse_json, single
from cancelgate.ux import service
from cancelgate.ux.clients import authenticate
from cancelgate.ux.errors import bad_request, method_not_allowed, not_implemented, unauthorized
from cancelgate.ux.middleware import correlation_id
from cancelgate.ux.requests import invalid, parse_cancel_request

PATH = "/ecom-ux/v1/{business_id}/appointment/{appointment_id}"
ISO_3166_ALPHA2 = re.compile(r"[A-Za-z]{2}")
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
    | ux_errors(400, 401, 404, 413, 500, 501),
)
async def cancel_appointment(
    business_id: str,
    appointment_id: str,
    request: Request,
    uow: Uow,
    csg: Csg,
    settings: SettingsDep,
    keys: Keys,
) -> Response:
    """200 `{"id", "status": "cancelled"}`; 400, 401, 404, 500, 501 in the UX envelope."""
    client = await authenticate(
        uow,
        keys.pepper,
        single(request.headers.getlist("client_id")),
        single(request.headers.getlist("client_secret")),
    )
    correlation = correlation_id(request.scope)
    if correlation is None:
        raise invalid("X-Correlation-ID", "header is required (1 to 200 printable characters)")
    if not ISO_3166_ALPHA2.fullmatch(business_id):
        raise invalid("businessId", "must be a 2-letter ISO 3166 country code")
    unit = business_id.upper()
    if unit not in settings.ux_business_units:
        raise not_implemented("PATCH", unit)
    if unit not in client.business_units:
        raise unauthorized()
    if not is_json_content_type(single(request.headers.getlist("content-type"))):
        raise invalid("Content-Type", "must be application/json")
    try:
        data = parse_json(await request.body())
    except NotJson:
        raise bad_request() from None
    appointment = await service.cancel_appointment(
        uow,
        csg=csg,
        csg_timeout_seconds=settings.csg_timeout_seconds,
        business_id=unit,
        appointment_id=appointment_id,
        request=parse_cancel_request(data),
        correlation_id=correlation,
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
