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

# Each scenario's fixture, and what a cancellation request for it does: (description, outcome).
# The one source of the sandbox's catalogue (GET /api/connect/sandbox/scenarios) and of the
# README's table, which says the same (tests/unit/test_scenario_catalogue.py).
ABOUT: dict[str, tuple[str, str]] = {
    BOOKED: (
        "Booked a week ahead, long before the point of no return.",
        "201; the outcome is 200 within milliseconds",
    ),
    BOOKED_SLOW: (
        "Booked a week ahead; the nbn is slow to process its cancellation.",
        "201; the nbn takes about 3 s (CANCELGATE_SIM_SLOW_SECONDS), "
        "so a GET sees 202 + Retry-After first",
    ),
    COMPLETE: (
        "Complete: the work was done.",
        "422 constraints.appointment.not.booked (rejectedValue complete)",
    ),
    CANCELLATION_IN_PROGRESS: (
        "Booked, with a cancellation already in progress that never ends.",
        "422 constraints.appointment-cancellation.in.progress",
    ),
    PENDING_CANCELLATION: (
        "Booked; the nbn already holds it as Pending Cancellation.",
        '422 constraints.appointment.not.cancellable "Appointment is already pending '
        'cancellation."',
    ),
    PAST_PONR: (
        "Booked for tomorrow morning: within the nbn's point of no return "
        "(CANCELGATE_CANCELLATION_PONR_HOURS).",
        '422 constraints.appointment.not.cancellable "Appointment is past point of no return."',
    ),
    INVALID_STATE: (
        "Booked; the nbn holds it In Progress.",
        '422 constraints.appointment.not.cancellable "Appointment not in a valid state to cancel."',
    ),
    UPSTREAM_UNAVAILABLE: (
        "Booked; the nbn cannot be reached about it.",
        "502 remote.call.error",
    ),
    FAILS_IN_PROCESSING: (
        "Booked; the nbn accepts its cancellation, then refuses it in processing.",
        "201; the outcome is 422 constraints.appointment-cancellation.failed "
        "(the nbn's cPoNR refusal)",
    ),
    OTHER_TENANT: (
        "Booked, of tenant other: seeded by serve --demo, never made on demand.",
        "404: it belongs to tenant other",
    ),
}

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
