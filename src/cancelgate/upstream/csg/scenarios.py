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
# Each scenario's fixture, and what the UX API's PATCH does with it: (description, outcome).
# The one source of the sandbox's catalogue (GET /api/connect/sandbox/scenarios) and of the
# README's table, which says the same (tests/unit/test_scenario_catalogue.py).
ABOUT: dict[str, tuple[str, str]] = {
    INSTALLATION: (
        "orderClass S, confirmed, billing account 8211990010043396 (the seed's).",
        '200 {"id", "status": "cancelled"} with the seed\'s installation body',
    ),
    TECHNICAL: (
        "orderClass T, confirmed.",
        "200 with the seed's technical body",
    ),
    ALREADY_CANCELLED: (
        "orderClass S, already cancelled.",
        "200 again (PATCH is idempotent), CSG is not called",
    ),
    COMPLETED: (
        "orderClass S, completed.",
        '400 "Appointment … is completed and cannot be cancelled."',
    ),
    CSG_REFUSES: (
        "orderClass S, confirmed; a technician is dispatched.",
        "CSG refuses: 400 with its reason",
    ),
    CSG_UNAVAILABLE: (
        "orderClass S, confirmed; CSG is down.",
        "500 Internal Server Error",
    ),
    CSG_SLOW: (
        "orderClass S, confirmed; CSG answers after 20 s (CANCELGATE_SIM_CSG_SLOW_SECONDS).",
        "past our timeout (CANCELGATE_CSG_TIMEOUT_SECONDS): 500",
    ),
}
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
