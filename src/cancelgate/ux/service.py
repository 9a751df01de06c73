"""Cancelling a UX appointment: local rules, then CSG, then our store and its event.

Takes the request's unit of work and what else it needs as arguments; never commits.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime
from typing import Any

import structlog

from cancelgate.connect.formats import instant
from cancelgate.db.database import UnitOfWork
from cancelgate.domain.errors import NotFound, RuleViolation, SubError, UpstreamUnavailable
from cancelgate.upstream.csg.port import CsgCancellation, CsgPort, CsgRefused, CsgUnavailable
from cancelgate.upstream.csg.scenarios import CANCELLED, COMPLETED_STATUS
from cancelgate.ux import repository
from cancelgate.ux.repository import UxAppointmentRow
from cancelgate.ux.requests import CancelRequest
from cancelgate.webhooks.events import record_event

log = structlog.get_logger(__name__)

STATE_CHANGE = "ux.appointment.state-change"


def refusal(field: str, message: str) -> RuleViolation:
    """A 400 that says why the appointment cannot be cancelled as asked."""
    return RuleViolation([SubError("ux.cancel.refused", message, "Appointment", field)])


def local_refusal(appointment: UxAppointmentRow, request: CancelRequest) -> RuleViolation | None:
    """Why our own records already say no (completed, wrong order class or account)."""
    aid = appointment.appointment_id
    if appointment.status == COMPLETED_STATUS:
        return refusal("status", f"Appointment {aid} is completed and cannot be cancelled.")
    if request.order_class != appointment.order_class:
        return refusal(
            "characteristics.orderClass",
            f"Invalid field 'characteristics.orderClass': appointment {aid} "
            f"has orderClass {appointment.order_class}",
        )
    if request.order_class == "S" and request.billing_account != appointment.billing_account:
        return refusal(
            "relatedEntity",
            "Invalid field 'relatedEntity': the BillingAccount is not the "
            f"customer account of appointment {aid}",
        )
    return None


def state_change_event(appointment: UxAppointmentRow, correlation_id: str) -> dict[str, Any]:
    """A TMF646 AppointmentStateChangeEvent for the appointment."""
    return {
        "eventType": "AppointmentStateChangeEvent",
        "eventTime": instant(appointment.cancelled_at),
        "correlationId": correlation_id,
        "event": {
            "appointment": {
                "id": appointment.appointment_id,
                "businessId": appointment.business_id,
                "status": appointment.status,
                "cancellationReason": appointment.cancellation_reason,
            }
        },
    }


async def _ask_csg(
    csg: CsgPort,
    appointment: UxAppointmentRow,
    request: CancelRequest,
    correlation_id: str,
    timeout_seconds: float,
) -> datetime:
    cancellation = CsgCancellation(
        business_id=appointment.business_id,
        appointment_id=appointment.appointment_id,
        order_class=request.order_class,
        billing_account=request.billing_account,
        reason=request.reason,
        correlation_id=correlation_id,
    )
    try:
        async with asyncio.timeout(timeout_seconds):
            outcome = await csg.cancel_appointment(cancellation)
    except (CsgUnavailable, TimeoutError) as exc:
        log.warning("csg_unavailable", error=str(exc) or type(exc).__name__)
        raise UpstreamUnavailable("CSG") from exc
    if isinstance(outcome, CsgRefused):
        log.info("csg_refused", reason=outcome.reason)
        raise refusal("status", outcome.reason)
    return outcome.cancelled_at


async def cancel_appointment(
    uow: UnitOfWork,
    *,
    csg: CsgPort,
    csg_timeout_seconds: float,
    business_id: str,
    appointment_id: str,
    request: CancelRequest,
    correlation_id: str,
) -> UxAppointmentRow:
    """Cancel in CSG, then record it with its event in the unit's transaction; a repeat
    answers again without asking CSG."""
    appointment = await repository.appointment(uow, business_id, appointment_id)
    if appointment is None:
        raise NotFound(appointment_id)
    if appointment.status == CANCELLED:
        return appointment
    refused = local_refusal(appointment, request)
    if refused is not None:
        raise refused
    # No transaction (and no connection) is held while CSG answers.
    cancelled_at = await _ask_csg(csg, appointment, request, correlation_id, csg_timeout_seconds)
    row = await repository.appointment(uow, business_id, appointment_id, lock=True)
    if row is None:
        raise NotFound(appointment_id)
    if row.status != CANCELLED:  # else a concurrent PATCH recorded it first
        await repository.cancel_appointment(
            uow, row.id, cancelled_at=cancelled_at, reason=request.reason
        )
        row = dataclasses.replace(
            row, status=CANCELLED, cancelled_at=cancelled_at, cancellation_reason=request.reason
        )
        await record_event(
            uow,
            tenant_id=None,
            event_type=STATE_CHANGE,
            model="appointment",
            subject_id=row.id,
            payload=state_change_event(row, correlation_id),
        )
    log.info("ux_appointment_cancelled", appointment_id=appointment_id, business_id=business_id)
    return row
