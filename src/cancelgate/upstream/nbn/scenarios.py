"""Simulator scenarios (a public contract of the sandbox) and the nbn's rules, as pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta

from cancelgate.domain.appointments import NbnCheck

BOOKED = "booked"
BOOKED_SLOW = "booked-slow"
COMPLETE = "complete"
CANCELLATION_IN_PROGRESS = "cancellation-in-progress"
PENDING_CANCELLATION = "pending-cancellation"
PAST_PONR = "past-ponr"
INVALID_STATE = "invalid-state"
UPSTREAM_UNAVAILABLE = "upstream-unavailable"
FAILS_IN_PROCESSING = "fails-in-processing"
OTHER_TENANT = "other-tenant"

SCENARIOS = (
    BOOKED,
    BOOKED_SLOW,
    COMPLETE,
    CANCELLATION_IN_PROGRESS,
    PENDING_CANCELLATION,
    PAST_PONR,
    INVALID_STATE,
    UPSTREAM_UNAVAILABLE,
    FAILS_IN_PROCESSING,
    OTHER_TENANT,
)

# nbn-side statuses
NBN_BOOKED = "Booked"
NBN_PENDING_CANCELLATION = "Pending Cancellation"
NBN_IN_PROGRESS = "In Progress"
NBN_COMPLETE = "Complete"
NBN_CANCELLED = "Cancelled"


def nbn_status_for(scenario: str) -> str:
    """The status the simulated nbn holds for a new fixture of this scenario."""
    return {
        PENDING_CANCELLATION: NBN_PENDING_CANCELLATION,
        INVALID_STATE: NBN_IN_PROGRESS,
        COMPLETE: NBN_COMPLETE,
    }.get(scenario, NBN_BOOKED)


def check(status: str, start_time: datetime, now: datetime, ponr_hours: int) -> NbnCheck:
    """Whether the nbn would cancel an appointment in this status, starting then, right now."""
    if status == NBN_PENDING_CANCELLATION:
        return NbnCheck.PENDING_CANCELLATION
    if status != NBN_BOOKED:
        return NbnCheck.INVALID_STATE
    if now >= start_time - timedelta(hours=ponr_hours):
        return NbnCheck.PAST_PONR
    return NbnCheck.CANCELLABLE


def past_cponr_message(nbn_appointment_id: str) -> str:
    """The nbn's refusal text when processing finds the appointment past its cPoNR."""
    text = (
        f"InvalidAppointmentException: Appointment ID : {nbn_appointment_id} "
        "is past the cancellation Point of No Return (cPoNR)."
    )
    return f'{text} "standard_description":"{text}'


def refusal_message(check_result: NbnCheck, nbn_appointment_id: str) -> str:
    """The nbn's refusal text for an appointment that cannot be cancelled at processing time."""
    if check_result == NbnCheck.PAST_PONR:
        return past_cponr_message(nbn_appointment_id)
    prefix = f"InvalidAppointmentException: Appointment ID : {nbn_appointment_id}"
    if check_result == NbnCheck.PENDING_CANCELLATION:
        return f"{prefix} is already pending cancellation."
    return f"{prefix} is not in a valid state to cancel."
