"""Service scenarios of the simulator (a public contract of the sandbox), as pure rules."""

from __future__ import annotations

import enum

ACTIVE = "active"
CANCELLATION_REQUESTED = "cancellation-requested"
CANCELLATION_IN_ERROR = "cancellation-in-error"
CANCELLATION_IN_PROGRESS = "cancellation-in-progress"
CANCELLED = "cancelled"
NOT_ELIGIBLE = "not-eligible"
REJECTED_BY_NBN = "rejected-by-nbn"
NBN_FLAKY = "nbn-flaky"
NBN_DOWN = "nbn-down"
OTHER_TENANT = "other-tenant"

SCENARIOS = (
    ACTIVE,
    CANCELLATION_REQUESTED,
    CANCELLATION_IN_ERROR,
    CANCELLATION_IN_PROGRESS,
    CANCELLED,
    NOT_ELIGIBLE,
    REJECTED_BY_NBN,
    NBN_FLAKY,
    NBN_DOWN,
    OTHER_TENANT,
)

# nbn-side statuses of a service
NBN_ACTIVE = "Active"
NBN_CANCELLED = "Cancelled"


class Verdict(enum.StrEnum):
    """What the simulated nbn does with a service cancellation submitted to it."""

    ACCEPT = "accept"
    REJECT = "reject"
    UNAVAILABLE = "unavailable"


def nbn_status_for(scenario: str) -> str:
    """The status the simulated nbn holds for a new service fixture of this scenario."""
    return NBN_CANCELLED if scenario == CANCELLED else NBN_ACTIVE


def verdict(scenario: str | None, status: str | None, submissions_before: int) -> Verdict:
    """The nbn's answer to a submission, given what it knows and how often it was asked."""
    if scenario == NBN_DOWN or (scenario == NBN_FLAKY and submissions_before == 0):
        return Verdict.UNAVAILABLE
    if scenario is None or scenario == REJECTED_BY_NBN or status != NBN_ACTIVE:
        return Verdict.REJECT
    return Verdict.ACCEPT


def rejection_message(nbn_service_id: str, scenario: str | None, status: str | None) -> str:
    """The nbn's reason for refusing to cancel the service."""
    if scenario is None:
        return f"ServiceNotFoundException: Service ID : {nbn_service_id} does not exist."
    if status != NBN_ACTIVE:
        return f"InvalidServiceStateException: Service ID : {nbn_service_id} is not active."
    return (
        f"ServiceCancellationRejectedException: Service ID : {nbn_service_id} "
        "has an open modification order and cannot be cancelled."
    )
