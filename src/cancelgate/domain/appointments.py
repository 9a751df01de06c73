"""Rules for cancelling an appointment: which refusal, in which order, and the state machine."""

from __future__ import annotations

import enum
from uuid import UUID

from cancelgate.domain.errors import SubError


class AppointmentStatus(enum.StrEnum):
    """Appointment statuses as the nbn reports them (lower case on the wire)."""

    RESERVED = "reserved"
    BOOKED = "booked"
    IN_PROGRESS = "in progress"
    COMPLETE = "complete"
    CANCELLED = "cancelled"


class CancellationStatus(enum.StrEnum):
    """Lifecycle of an appointment-cancellation request."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class NbnCheck(enum.StrEnum):
    """What the nbn says when asked whether an appointment can be cancelled."""

    CANCELLABLE = "cancellable"
    PENDING_CANCELLATION = "pending_cancellation"
    PAST_PONR = "past_ponr"
    INVALID_STATE = "invalid_state"


NBN_CHECK_MESSAGES = {
    NbnCheck.PENDING_CANCELLATION: "Appointment is already pending cancellation.",
    NbnCheck.PAST_PONR: "Appointment is past point of no return.",
    NbnCheck.INVALID_STATE: "Appointment not in a valid state to cancel.",
}


def not_booked(appointment_id: int, status: str) -> SubError | None:
    """Refusal when the appointment is not booked, else None."""
    if status == AppointmentStatus.BOOKED:
        return None
    return SubError(
        code="constraints.appointment.not.booked",
        message=f"Appointment with id {appointment_id} cannot be cancelled as it is not booked",
        object="Appointment",
        field="status",
        rejected_value=status,
    )


def cancellation_in_progress(appointment_id: int) -> SubError:
    """Refusal when a cancellation of the appointment is already in flight."""
    return SubError(
        code="constraints.appointment-cancellation.in.progress",
        message=f"Appointment with id {appointment_id} already has a cancellation in progress",
        object="AppointmentCancellation",
        field="status",
        rejected_value=CancellationStatus.IN_PROGRESS.value,
    )


def refusal_for_nbn_check(check: NbnCheck, nbn_internal_id: UUID) -> SubError | None:
    """Refusal for the nbn's answer to "can it be cancelled?", or None when it can."""
    if check == NbnCheck.CANCELLABLE:
        return None
    return SubError(
        code="constraints.appointment.not.cancellable",
        message=NBN_CHECK_MESSAGES[check],
        object="Appointment",
        field="nbnInternalAppointmentId",
        rejected_value=str(nbn_internal_id),
    )


def request_refusal(
    *, appointment_id: int, status: str, has_open_cancellation: bool
) -> SubError | None:
    """The first local rule a new cancellation request breaks, in the documented order."""
    refusal = not_booked(appointment_id, status)
    if refusal is not None:
        return refusal
    if has_open_cancellation:
        return cancellation_in_progress(appointment_id)
    return None


def failed_in_processing(message: str) -> SubError:
    """The outcome shown for a request the nbn refused after accepting it for processing."""
    return SubError(
        code="constraints.appointment-cancellation.failed",
        message=message,
        object="AppointmentCancellation",
        field="status",
        rejected_value=CancellationStatus.FAILED.value,
    )


def can_finish(status: str) -> bool:
    """Only a cancellation still in flight may be completed or failed (jobs can run twice)."""
    return status == CancellationStatus.IN_PROGRESS
