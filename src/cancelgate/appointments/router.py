"""Connect API: appointment cancellation requests (versions 1..8)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from cancelgate.appointments import service
from cancelgate.appointments.payloads import cancellation_resource
from cancelgate.appointments.schemas import (
    COMMAND_OBJECT,
    AppointmentCancellationBody,
    AppointmentCancellationCommand,
)
from cancelgate.auth.principal import Principal, connect_principal, runtime_of
from cancelgate.connect.body import read_command
from cancelgate.connect.errors import rule_violation
from cancelgate.connect.openapi import (
    COMMAND,
    LOCATION,
    READ,
    RETRY_AFTER,
    answer,
    connect_errors,
    json_body,
)
from cancelgate.connect.paths import path_id
from cancelgate.connect.responses import still_processing
from cancelgate.connect.versions import APPOINTMENT_CANCELLATION_VERSIONS, api_version
from cancelgate.domain.appointments import CancellationStatus, failed_in_processing

PREFIX = "/api/connect/orders/appointment-cancellations"
router = APIRouter(prefix=PREFIX, tags=["Connect: appointment cancellations"])
version = api_version(APPOINTMENT_CANCELLATION_VERSIONS)


@router.post(
    "/request",
    status_code=201,
    # A blank body: with the default JSONResponse the document would promise JSON.
    response_class=Response,
    summary="Request the cancellation of a booked appointment",
    openapi_extra=json_body(AppointmentCancellationCommand),
    responses=answer(201, "Accepted; read the outcome at Location", headers=LOCATION)
    | connect_errors(*COMMAND, 404, 502),
)
async def request_cancellation(
    request: Request,
    principal: Principal = Depends(connect_principal),
    _version: int = Depends(version),
) -> Response:
    """201 with `Location` of the outcome; 404, 422 or 502 as the seed documents."""
    command = await read_command(request, AppointmentCancellationCommand, COMMAND_OBJECT)
    cancellation_id = await service.request_cancellation(
        runtime_of(request), principal=principal, appointment_id=command.appointmentId
    )
    return Response(status_code=201, headers={"Location": f"{PREFIX}/requests/{cancellation_id}"})


@router.get(
    "/requests/{request_id}",
    summary="The outcome of an appointment cancellation request",
    responses=answer(200, "Cancelled", AppointmentCancellationBody)
    | answer(202, "Still being processed; poll again", headers=RETRY_AFTER)
    | connect_errors(*READ, 422),
)
async def get_outcome(
    request_id: str,
    request: Request,
    principal: Principal = Depends(connect_principal),
    _version: int = Depends(version),
) -> Response:
    """202 while in progress; 200 with the appointment-cancellation; 422 when it failed."""
    runtime = runtime_of(request)
    outcome = await service.get_cancellation(
        runtime, principal=principal, cancellation_id=path_id(request_id)
    )
    if outcome.status == CancellationStatus.IN_PROGRESS:
        return still_processing(runtime.settings.retry_after_seconds)
    if outcome.status == CancellationStatus.FAILED:
        raise rule_violation([failed_in_processing(outcome.failure_message or "")])
    return JSONResponse(cancellation_resource(outcome))
