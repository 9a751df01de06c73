"""Sandbox-only Connect endpoints (mounted when CANCELGATE_SANDBOX is on, e.g. `serve --demo`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from cancelgate.auth.caller import ClockDep
from cancelgate.auth.principal import Caller
from cancelgate.connect.openapi import LOCATION, answer, connect_errors
from cancelgate.connect.paths import path_id
from cancelgate.connect.versions import SERVICE_CANCELLATION_VERSIONS, api_version
from cancelgate.dependencies import SandboxOn, Uow
from cancelgate.services import service
from cancelgate.services.router import outcome_location

router = APIRouter(tags=["Sandbox"], dependencies=[SandboxOn])
version = api_version(SERVICE_CANCELLATION_VERSIONS)


@router.post(
    "/api/connect/sandbox/service-cancellations/requests/{service_id}/submit",
    status_code=204,
    summary="Sandbox: submit a REQUESTED service cancellation to the nbn now, not on its date",
    responses=answer(204, "Submitted now; read the outcome at Location", headers=LOCATION)
    | connect_errors(400, 401, 404, 409, 422),
)
async def submit_now(
    service_id: str,
    principal: Caller,
    uow: Uow,
    clock: ClockDep,
    _version: int = Depends(version),
) -> Response:
    """204 with `Location` of the outcome; 404, or 422 unless REQUESTED."""
    sid = path_id(service_id)
    await service.submit_now(uow, principal=principal, service_id=sid, clock=clock)
    return Response(status_code=204, headers=outcome_location(sid))
