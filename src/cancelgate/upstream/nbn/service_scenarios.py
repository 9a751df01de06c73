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

# Each scenario's fixture (its state), and what a cancellation does with it: (description,
# outcome). The one source of the sandbox's catalogue (GET /api/connect/sandbox/scenarios) and
# of the README's table, which says the same (tests/unit/test_scenario_catalogue.py).
ABOUT: dict[str, tuple[str, str]] = {
    ACTIVE: (
        "Eligible, no cancellation.",
        "the nbn completes it (COMPLETED, cancelled: true, event service.cancelled)",
    ),
    CANCELLATION_REQUESTED: (
        "REQUESTED for 14 days ahead.",
        "reschedule, abort, or submit it now",
    ),
    CANCELLATION_IN_ERROR: (
        "IN_ERROR with errorDetail.",
        "reschedule or abort it",
    ),
    CANCELLATION_IN_PROGRESS: (
        "IN_PROGRESS at the nbn for good.",
        "GET answers 202; request 422 already.requested; reschedule/abort 422 not.requested",
    ),
    CANCELLED: (
        "COMPLETED: the service is cancelled.",
        "a request is 422 not.eligible",
    ),
    NOT_ELIGIBLE: (
        "canRequestCancellation: false.",
        "a request is 422 constraints.service.not.eligible.for.cancellation",
    ),
    REJECTED_BY_NBN: (
        "Eligible, no cancellation; the nbn will refuse it.",
        "the outcome is 422 constraints.service-cancellation.rejected with the nbn's reason; "
        "event service.cancellation-rejected",
    ),
    NBN_FLAKY: (
        "Eligible, no cancellation; the nbn errors once.",
        "the first submission errors (IN_ERROR_RETRY), the resubmission completes",
    ),
    NBN_DOWN: (
        "Eligible, no cancellation; the nbn is down.",
        "every submission errors; after CANCELGATE_JOB_MAX_ATTEMPTS it ends IN_ERROR",
    ),
    OTHER_TENANT: (
        "Eligible, of tenant other: seeded by serve --demo, never made on demand.",
        "404 everywhere: it belongs to tenant other",
    ),
}

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
