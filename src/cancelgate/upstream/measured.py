"""Ports that time each call of the port they wrap, by operation and outcome
(`cancelgate_upstream_request_duration_seconds`); the factories build them around the
simulator or the HTTP adapter alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import date, datetime
from time import perf_counter
from typing import TypeVar

import httpx

from cancelgate.domain.appointments import NbnCheck
from cancelgate.observability import metrics
from cancelgate.upstream import calls
from cancelgate.upstream.csg.port import (
    CsgCancellation,
    CsgOutcome,
    CsgPort,
    CsgRefused,
    CsgUnavailable,
)
from cancelgate.upstream.nbn.port import CancelOutcome, CancelRefused, NbnPort, NbnUnavailable

T = TypeVar("T")
NBN, CSG = "nbn", "csg"


def failure_outcome(exc: BaseException) -> str:
    """The outcome of a call that raised: a timeout (the adapter's, or the caller giving up on
    the call: the UX API's deadline for CSG), the port's own "unavailable", or an error."""
    if isinstance(exc, asyncio.CancelledError | TimeoutError | httpx.TimeoutException):
        return metrics.UPSTREAM_TIMEOUT
    if isinstance(exc, NbnUnavailable | CsgUnavailable):
        cause = exc.__cause__
        if isinstance(cause, httpx.TimeoutException):
            return metrics.UPSTREAM_TIMEOUT
        return metrics.UPSTREAM_UNAVAILABLE
    return metrics.UPSTREAM_ERROR


async def measured(
    upstream: str, operation: str, call: Awaitable[T], refused: type | None = None
) -> T:
    """Await one call and record its duration and outcome (`refused` when the answer is of
    that type)."""
    started = perf_counter()
    try:
        answer = await call
    except BaseException as exc:
        outcome, seconds = failure_outcome(exc), perf_counter() - started
        metrics.observe_upstream(upstream, operation, outcome, seconds)
        calls.note(upstream, operation, outcome, seconds, str(exc) or type(exc).__name__)
        raise
    refusal = refused is not None and isinstance(answer, refused)
    outcome = metrics.UPSTREAM_REFUSED if refusal else metrics.UPSTREAM_OK
    seconds = perf_counter() - started
    metrics.observe_upstream(upstream, operation, outcome, seconds)
    calls.note(upstream, operation, outcome, seconds, str(answer) if refusal else None)
    return answer


class MeasuredNbn:
    """An NbnPort that times each call of the one it wraps."""

    def __init__(self, port: NbnPort) -> None:
        self.port = port

    async def check_cancellable(
        self, *, nbn_appointment_id: str, at: datetime | None = None
    ) -> NbnCheck:
        """The wrapped port's check, timed."""
        call = self.port.check_cancellable(nbn_appointment_id=nbn_appointment_id, at=at)
        return await measured(NBN, "check_cancellable", call)

    async def cancel(
        self, *, nbn_appointment_id: str, request_key: str, at: datetime | None = None
    ) -> CancelOutcome:
        """The wrapped port's cancellation, timed."""
        call = self.port.cancel(
            nbn_appointment_id=nbn_appointment_id, request_key=request_key, at=at
        )
        return await measured(NBN, "cancel", call, CancelRefused)

    async def cancel_service(
        self,
        *,
        nbn_service_id: str,
        cancellation_date: date,
        request_key: str,
        at: datetime | None = None,
    ) -> CancelOutcome:
        """The wrapped port's service cancellation, timed."""
        call = self.port.cancel_service(
            nbn_service_id=nbn_service_id,
            cancellation_date=cancellation_date,
            request_key=request_key,
            at=at,
        )
        return await measured(NBN, "cancel_service", call, CancelRefused)

    async def close(self) -> None:
        """Release the wrapped port's connections."""
        await self.port.close()


class MeasuredCsg:
    """A CsgPort that times each call of the one it wraps."""

    def __init__(self, port: CsgPort) -> None:
        self.port = port

    async def cancel_appointment(self, cancellation: CsgCancellation) -> CsgOutcome:
        """The wrapped port's cancellation, timed."""
        call = self.port.cancel_appointment(cancellation)
        return await measured(CSG, "cancel_appointment", call, CsgRefused)

    async def close(self) -> None:
        """Release the wrapped port's connections."""
        await self.port.close()
