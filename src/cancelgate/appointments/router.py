"""Connect API: appointment cancellation requests (versions 1..8)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from cancelgate.appointments import service
from cancelgate.appointments.repository import Outcome
from cancelgate.appointments.schemas import (
    COMMAND_OBJECT,
    AppointmentCancellationBody,
    AppointmentCancellationCommand,
    appointment_cancellation_body,
)
from cancelgate.auth.caller import ClockDep, CommandLimit, StatusLimit
from cancelgate.auth.principal import Caller
from cancelgate.connect.body import read_command
from cancelgate.connect.errors import rule_violation
from cancelgate.connect.long_poll import APPLIED, hold, requested_wait
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
from cancelgate.connect.responses import likely_in, still_processing
from cancelgate.connect.versions import APPOINTMENT_CANCELLATION_VERSIONS, api_version
from cancelgate.dependencies import ListenerDep, Nbn, SettingsDep, Uow
from cancelgate.domain.appointments import CancellationStatus, failed_in_processing
from cancelgate.idempotency.keys import key_of

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
    dependencies=[CommandLimit],
    responses=answer(201, "Accepted; read the outcome at Location", headers=LOCATION)
    | connect_errors(*COMMAND, 404, 429, 502),
)
async def request_cancellation(
    request: Request,
    principal: Caller,
    uow: Uow,
    nbn: Nbn,
    clock: ClockDep,
    _version: int = Depends(version),
) -> Response:
    """201 with `Location` of the outcome; 404, 422 or 502 as the seed documents."""
    command = await read_command(request, AppointmentCancellationCommand, COMMAND_OBJECT)
    cancellation_id = await service.request_cancellation(
        uow,
        principal=principal,
        appointment_id=command.appointmentId,
        nbn=nbn,
        now=clock.now(),
        idempotency_key=key_of(request.headers),
    )
    return Response(status_code=201, headers={"Location": f"{PREFIX}/requests/{cancellation_id}"})


@router.get(
    "/requests/{request_id}",
    summary="The outcome of an appointment cancellation request",
    dependencies=[StatusLimit],
    responses=answer(200, "Cancelled", AppointmentCancellationBody)
    | answer(202, "Still being processed; poll again", headers=RETRY_AFTER)
    | connect_errors(*READ, 422, 429),
)
async def get_outcome(
    request_id: str,
    request: Request,
    principal: Caller,
    uow: Uow,
    settings: SettingsDep,
    listener: ListenerDep,
    clock: ClockDep,
    _version: int = Depends(version),
) -> Response:
    """202 while in progress; 200 with the appointment-cancellation; 422 when it failed. With
    `Prefer: wait=N` an answer in progress is held until final or N seconds have passed."""
    cancellation_id = path_id(request_id)

    async def read() -> Outcome:
        return await service.get_cancellation(
            uow, principal=principal, cancellation_id=cancellation_id
        )

    wait = requested_wait(request, settings.long_poll_max_seconds)
    applied: dict[str, str] = {}
    if wait:
        key = f"appointment-cancellation:{cancellation_id}"
        outcome, held = await hold(request, listener, key, wait, read, in_progress)
        applied = {APPLIED: f"wait={wait}"} if held else {}
    else:
        outcome = await read()
    if in_progress(outcome):
        after = likely_in(outcome.requested_on, clock.now(), at_most=settings.retry_after_seconds)
        return still_processing(after, headers=applied)
    if outcome.status == CancellationStatus.FAILED:
        failed = rule_violation([failed_in_processing(outcome.failure_message or "")])
        failed.headers.update(applied)
        raise failed
    return JSONResponse(appointment_cancellation_body(outcome).model_dump(), headers=applied)


def in_progress(outcome: Outcome) -> bool:
    """Whether the outcome is not final yet."""
    return outcome.status == CancellationStatus.IN_PROGRESS
