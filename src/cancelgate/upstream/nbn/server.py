"""`cancelgate simulator`: the built-in nbn and CSG served over HTTP, for the HTTP adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import date, datetime

from fastapi import FastAPI, Header, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from cancelgate.db.database import Database
from cancelgate.db.embedded import release_embedded
from cancelgate.settings import Settings
from cancelgate.upstream.csg.factory import make_csg_simulator
from cancelgate.upstream.csg.port import CsgCancellation, CsgCancelled, CsgUnavailable
from cancelgate.upstream.csg.simulator import CsgSimulator
from cancelgate.upstream.faults import (
    MAX_FAULT_SECONDS,
    TARGETS,
    Fault,
    FaultBoard,
    FaultKind,
    FaultMiddleware,
)
from cancelgate.upstream.nbn.factory import make_simulator
from cancelgate.upstream.nbn.port import CancelAccepted, CancelOutcome, NbnUnavailable
from cancelgate.upstream.nbn.simulator import NbnSimulator

UNAVAILABLE = {"message": "Service temporarily unavailable"}


class CsgCancellationBody(BaseModel):
    """Body of POST /csg/v1/business-units/{bu}/appointments/{id}/cancel."""

    orderClass: str
    billingAccount: str | None = None
    reason: str


class FaultBody(BaseModel):
    """Body of PUT /sim/v1/faults/{target}."""

    kind: FaultKind
    seconds: float = Field(default=0.0, ge=0, le=MAX_FAULT_SECONDS)
    status: int = Field(default=503, ge=400, le=599)


class ServiceCancellationBody(BaseModel):
    """Body of POST /nbn/v1/services/{id}/cancellations."""

    cancellationDate: date


def cancelled_response(cancelled_at: datetime) -> JSONResponse:
    """200 with the cancellation instant (the nbn's and CSG's success answer)."""
    return JSONResponse({"status": "cancelled", "cancelledAt": cancelled_at.isoformat()})


def outcome_response(outcome: CancelOutcome, refusal_code: str) -> JSONResponse:
    """200 with the cancellation instant, or 422 with the nbn's reason."""
    if isinstance(outcome, CancelAccepted):
        return cancelled_response(outcome.cancelled_at)
    return JSONResponse({"code": refusal_code, "message": outcome.message}, status_code=422)


def create_simulator_app(settings: Settings, database_url: str) -> FastAPI:
    """An HTTP nbn backed by the simulator's tables in the given database."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database(database_url, size=5, name="cancelgate-simulator")
        await database.open()
        app.state.sim = make_simulator(settings, database)
        app.state.csg = make_csg_simulator(settings, database)
        yield
        await database.close()
        release_embedded(settings.data_dir)

    app = FastAPI(title="cancelgate nbn and CSG simulator", lifespan=lifespan)
    board = FaultBoard()
    app.add_middleware(FaultMiddleware, board=board)

    def sim(request: Request) -> NbnSimulator:
        simulator: NbnSimulator = request.app.state.sim
        return simulator

    @app.get("/nbn/v1/appointments/{nbn_appointment_id}/cancellability")
    async def cancellability(nbn_appointment_id: str, request: Request) -> JSONResponse:
        try:
            result = await sim(request).check_cancellable(nbn_appointment_id=nbn_appointment_id)
        except NbnUnavailable:
            return JSONResponse(UNAVAILABLE, status_code=503)
        return JSONResponse({"nbnAppointmentId": nbn_appointment_id, "result": result.value})

    @app.post("/nbn/v1/appointments/{nbn_appointment_id}/cancellations")
    async def cancel(
        nbn_appointment_id: str,
        request: Request,
        idempotency_key: str = Header(alias="Idempotency-Key", min_length=8, max_length=100),
    ) -> JSONResponse:
        try:
            outcome = await sim(request).cancel(
                nbn_appointment_id=nbn_appointment_id, request_key=idempotency_key
            )
        except NbnUnavailable:
            return JSONResponse(UNAVAILABLE, status_code=503)
        return outcome_response(outcome, "InvalidAppointmentException")

    @app.post("/nbn/v1/services/{nbn_service_id}/cancellations")
    async def cancel_service(
        nbn_service_id: str,
        body: ServiceCancellationBody,
        request: Request,
        idempotency_key: str = Header(alias="Idempotency-Key", min_length=8, max_length=100),
    ) -> JSONResponse:
        try:
            outcome = await sim(request).cancel_service(
                nbn_service_id=nbn_service_id,
                cancellation_date=body.cancellationDate,
                request_key=idempotency_key,
            )
        except NbnUnavailable:
            return JSONResponse(UNAVAILABLE, status_code=503)
        return outcome_response(outcome, "ServiceCancellationRejected")

    @app.post("/csg/v1/business-units/{business_id}/appointments/{appointment_id}/cancel")
    async def csg_cancel(
        business_id: str,
        appointment_id: str,
        body: CsgCancellationBody,
        request: Request,
        correlation_id: str = Header(alias="X-Correlation-ID", default=""),
    ) -> JSONResponse:
        csg: CsgSimulator = request.app.state.csg
        cancellation = CsgCancellation(
            business_id=business_id,
            appointment_id=appointment_id,
            order_class=body.orderClass,
            billing_account=body.billingAccount,
            reason=body.reason,
            correlation_id=correlation_id,
        )
        try:
            outcome = await csg.cancel_appointment(cancellation)
        except CsgUnavailable:
            return JSONResponse(UNAVAILABLE, status_code=503)
        if isinstance(outcome, CsgCancelled):
            return cancelled_response(outcome.cancelled_at)
        return JSONResponse({"code": "CancelRefused", "message": outcome.reason}, status_code=409)

    @app.get("/nbn/v1/stats")
    async def stats(request: Request, nbn_appointment_id: str | None = None) -> JSONResponse:
        count = await sim(request).effective_cancellations(nbn_appointment_id)
        return JSONResponse({"effectiveCancellations": count})

    @app.get("/sim/v1/faults")
    async def faults() -> JSONResponse:
        """The faults in force and the calls each operation received."""
        in_force = {target: asdict(fault) for target, fault in board.faults.items()}
        return JSONResponse({"faults": in_force, "calls": dict(board.calls)})

    @app.put("/sim/v1/faults/{target}", status_code=204)
    async def put_fault(target: str, body: FaultBody) -> Response:
        """Play a fault on one operation until it is deleted."""
        if target not in TARGETS:
            return JSONResponse({"message": f"unknown target; one of {TARGETS}"}, 404)
        board.set(target, Fault(body.kind, body.seconds, body.status))
        return Response(status_code=204)

    @app.delete("/sim/v1/faults/{target}", status_code=204)
    async def delete_fault(target: str) -> Response:
        """Let the operation answer normally again."""
        board.set(target, None)
        return Response(status_code=204)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app
