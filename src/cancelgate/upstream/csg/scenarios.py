"""CSG simulator scenarios (a public contract of the sandbox) and CSG's rules, as pure functions."""

from __future__ import annotations

import enum

INSTALLATION = "installation"
TECHNICAL = "technical"
ALREADY_CANCELLED = "already-cancelled"
COMPLETED = "completed"
CSG_REFUSES = "csg-refuses"
CSG_UNAVAILABLE = "csg-unavailable"
CSG_SLOW = "csg-slow"

SCENARIOS = (
    INSTALLATION,
    TECHNICAL,
    ALREADY_CANCELLED,
    COMPLETED,
    CSG_REFUSES,
    CSG_UNAVAILABLE,
    CSG_SLOW,
)
# The billing account of the installation scenario (the seed's example).
SEED_BILLING_ACCOUNT = "8211990010043396"

# TMF646 appointment statuses
CONFIRMED = "confirmed"
CANCELLED = "cancelled"
COMPLETED_STATUS = "completed"


class Verdict(enum.StrEnum):
    """What simulated CSG does with a cancellation."""

    CANCEL = "cancel"
    ALREADY = "already"
    REFUSE = "refuse"
    UNAVAILABLE = "unavailable"


def order_class_for(scenario: str) -> str:
    """S (service order: installation) or T (trouble ticket: technical)."""
    return "T" if scenario == TECHNICAL else "S"


def initial_status(scenario: str) -> str:
    """The TMF646 status of a fresh fixture of the scenario."""
    return {ALREADY_CANCELLED: CANCELLED, COMPLETED: COMPLETED_STATUS}.get(scenario, CONFIRMED)


def verdict(scenario: str | None, status: str | None) -> Verdict:
    """CSG's answer to a cancellation of an appointment in this scenario and status."""
    if scenario == CSG_UNAVAILABLE:
        return Verdict.UNAVAILABLE
    if status == CANCELLED:
        return Verdict.ALREADY
    if scenario is None or scenario == CSG_REFUSES or status != CONFIRMED:
        return Verdict.REFUSE
    return Verdict.CANCEL


def refusal_reason(appointment_id: str, scenario: str | None, status: str | None) -> str:
    """CSG's reason for refusing, worded for the caller."""
    if scenario is None:
        return f"Appointment {appointment_id} does not exist in CSG."
    if status == COMPLETED_STATUS:
        return f"Appointment {appointment_id} is completed and cannot be cancelled."
    if scenario == CSG_REFUSES:
        return (
            f"Appointment {appointment_id} cannot be cancelled: "
            "a technician has already been dispatched."
        )
    return f"Appointment {appointment_id} is {status} and cannot be cancelled."
