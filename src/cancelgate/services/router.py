"""Connect API: services and their cancellation requests (service cancellations: versions 1..7)."""

from __future__ import annotations

import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from cancelgate.auth.caller import ClockDep, CommandLimit, StatusLimit
from cancelgate.auth.principal import Caller
from cancelgate.clock import Clock, business_today
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
from cancelgate.connect.versions import (
    SERVICE_CANCELLATION_VERSIONS,
    SERVICE_VERSIONS,
    api_version,
)
from cancelgate.dependencies import ListenerDep, SettingsDep, Uow, ZoneDep
from cancelgate.domain.services import ServiceCancellationStatus, being_processed, rejected_by_nbn
from cancelgate.idempotency.keys import key_of
from cancelgate.services import service
from cancelgate.services.repository import CancellationRow, ServiceView
from cancelgate.services.schemas import (
    ABORT_OBJECT,
    REQUEST_OBJECT,
    RESCHEDULE_OBJECT,
    TODAY,
    AbortServiceCancellationCommand,
    RescheduleServiceCancellationCommand,
    ServiceBody,
    ServiceCancellationBody,
    ServiceCancellationRequestCommand,
    service_body,
    service_cancellation_body,
)

SERVICES = "/api/connect/services"
PREFIX = f"{SERVICES}/service-cancellations"
router = APIRouter(tags=["Connect: service cancellations"])
version = api_version(SERVICE_CANCELLATION_VERSIONS)
service_version = api_version(SERVICE_VERSIONS)


def outcome_location(service_id: int) -> dict[str, str]:
    """The `Location` of a service's cancellation outcome."""
    return {"Location": f"{PREFIX}/requests/{service_id}"}


async def read_dated_command(
    request: Request,
    model: type[ServiceCancellationRequestCommand],
    object_name: str,
    *,
    clock: Clock,
    zone: ZoneInfo,
) -> tuple[int, date]:
    """serviceId and cancellationDate of a command, validated against today's business date."""
    today = business_today(clock.now(), zone)
    command = await read_command(request, model, object_name, {TODAY: today})
    assert command.cancellationDate is not None  # the validator refuses null
    return command.serviceId, command.cancellationDate


@router.post(
    f"{PREFIX}/request",
    status_code=201,
    # A blank body: with the default JSONResponse the document would promise JSON.
    response_class=Response,
    summary="Request the cancellation of a service on a date",
    dependencies=[CommandLimit],
    openapi_extra=json_body(ServiceCancellationRequestCommand),
    responses=answer(201, "Requested; read the outcome at Location", headers=LOCATION)
    | connect_errors(*COMMAND, 404, 429),
)
async def request_cancellation(
    request: Request,
    principal: Caller,
    uow: Uow,
    clock: ClockDep,
    zone: ZoneDep,
    _version: int = Depends(version),
) -> Response:
    """201, blank body, `Location` of the outcome; 404 or 422 as documented."""
    service_id, day = await read_dated_command(
        request, ServiceCancellationRequestCommand, REQUEST_OBJECT, clock=clock, zone=zone
    )
    await service.request_cancellation(
        uow,
        principal=principal,
        service_id=service_id,
        cancellation_date=day,
        clock=clock,
        zone=zone,
        idempotency_key=key_of(request.headers),
    )
    return Response(status_code=201, headers=outcome_location(service_id))


@router.post(
    f"{PREFIX}/requests/reschedule",
    status_code=204,
    summary="Move a requested (or in-error) service cancellation to another date",
    dependencies=[CommandLimit],
    openapi_extra=json_body(RescheduleServiceCancellationCommand),
    responses=answer(204, "Rescheduled; read the outcome at Location", headers=LOCATION)
    | connect_errors(*COMMAND, 404, 429),
)
async def reschedule_cancellation(
    request: Request,
    principal: Caller,
    uow: Uow,
    clock: ClockDep,
    zone: ZoneDep,
    _version: int = Depends(version),
) -> Response:
    """204 with `Location`; 404, or 422 unless REQUESTED or IN_ERROR (the seed)."""
    service_id, day = await read_dated_command(
        request, RescheduleServiceCancellationCommand, RESCHEDULE_OBJECT, clock=clock, zone=zone
    )
    await service.reschedule_cancellation(
        uow,
        principal=principal,
        service_id=service_id,
        cancellation_date=day,
        clock=clock,
        zone=zone,
    )
    return Response(status_code=204, headers=outcome_location(service_id))


@router.post(
    f"{PREFIX}/requests/abort",
    status_code=204,
    summary="Abort a requested (or in-error) service cancellation",
    dependencies=[CommandLimit],
    openapi_extra=json_body(AbortServiceCancellationCommand),
    responses=answer(204, "Aborted; read the outcome at Location", headers=LOCATION)
    | connect_errors(*COMMAND, 404, 429),
)
async def abort_cancellation(
    request: Request,
    principal: Caller,
    uow: Uow,
    clock: ClockDep,
    _version: int = Depends(version),
) -> Response:
    """204 with `Location`; 404, or 422 unless REQUESTED or IN_ERROR."""
    command = await read_command(request, AbortServiceCancellationCommand, ABORT_OBJECT)
    await service.abort_cancellation(
        uow, principal=principal, service_id=command.serviceId, clock=clock
    )
    return Response(status_code=204, headers=outcome_location(command.serviceId))


@router.get(
    f"{PREFIX}/requests/{{service_id}}",
    summary="The service-cancellation resource of a service (the outcome of the last command)",
    dependencies=[StatusLimit],
    responses=answer(200, "The service-cancellation resource", ServiceCancellationBody)
    | answer(202, "Being submitted to the nbn; poll again", headers=RETRY_AFTER)
    | connect_errors(*READ, 422, 429),
)
async def get_outcome(
    service_id: str,
    request: Request,
    principal: Caller,
    uow: Uow,
    clock: ClockDep,
    settings: SettingsDep,
    listener: ListenerDep,
    _version: int = Depends(version),
) -> Response:
    """202 while being submitted; 422 when the nbn rejected it; else 200 with the resource.
    With `Prefer: wait=N` a 202 is held until the outcome is final or N seconds have passed."""
    sid = path_id(service_id)

    async def read() -> ServiceView:
        return await service.get_service(uow, principal=principal, service_id=sid)

    def pending(view: ServiceView) -> bool:
        latest = view.cancellation
        return latest is not None and being_processed(latest.status, latest.submit_at, clock.now())

    wait = requested_wait(request, settings.long_poll_max_seconds)
    applied: dict[str, str] = {}
    if wait:
        view, held = await hold(request, listener, f"service:{sid}", wait, read, pending)
        applied = {APPLIED: f"wait={wait}"} if held else {}
    else:
        view = await read()
    cancellation = view.cancellation
    if cancellation is not None:
        if pending(view):
            after = retry_after(cancellation, clock.now(), at_most=settings.retry_after_seconds)
            return still_processing(after, headers=applied)
        if cancellation.status == ServiceCancellationStatus.REJECTED:
            rejected = rule_violation([rejected_by_nbn(cancellation.error_detail or "")])
            rejected.headers.update(applied)
            raise rejected
    body = service_cancellation_body(view.service, cancellation).model_dump()
    return JSONResponse(body, headers=applied)


def retry_after(cancellation: CancellationRow, now: datetime, *, at_most: int) -> int:
    """When the outcome is likely: at the resubmission a retry waits for, else soon after the
    submission started (from 1 s, growing with its age up to `at_most`)."""
    due = cancellation.submit_at
    if cancellation.status == ServiceCancellationStatus.IN_ERROR_RETRY and due and due > now:
        return max(1, math.ceil((due - now).total_seconds()))
    return likely_in(due or cancellation.requested_on, now, at_most=at_most)


@router.get(
    f"{SERVICES}/{{service_id}}",
    summary="A service, its eligibility and its latest cancellation request (versions 1..8)",
    dependencies=[StatusLimit],
    responses=answer(200, "The service", ServiceBody) | connect_errors(*READ, 429),
)
async def get_service(
    service_id: str,
    principal: Caller,
    uow: Uow,
    _version: int = Depends(service_version),
) -> Response:
    """200 with the service; 404 for unknown or foreign ids."""
    view = await service.get_service(uow, principal=principal, service_id=path_id(service_id))
    return JSONResponse(service_body(view.service, view.cancellation).model_dump())
