"""Rules of service cancellation: statuses, refusals, derived flags and the submission guard."""

from __future__ import annotations

import enum
from datetime import date, datetime

from cancelgate.domain.errors import SubError


class ServiceStatus(enum.StrEnum):
    """Lifecycle of a service as far as cancellation is concerned."""

    ACTIVE = "active"
    CANCELLED = "cancelled"


class ServiceCancellationStatus(enum.StrEnum):
    """Lifecycle of a service-cancellation request (the API's `status`)."""

    REQUESTED = "REQUESTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    ABORTED = "ABORTED"
    IN_ERROR = "IN_ERROR"
    IN_ERROR_RETRY = "IN_ERROR_RETRY"
    REJECTED = "REJECTED"


S = ServiceCancellationStatus
# A cancellation in one of these blocks another request for the same service.
OPEN_STATUSES = frozenset({S.REQUESTED, S.IN_PROGRESS, S.IN_ERROR_RETRY, S.IN_ERROR})
# The customer may still change it: it has not gone to the nbn (or the nbn gave up on it).
CHANGEABLE_STATUSES = frozenset({S.REQUESTED, S.IN_ERROR})
# A submission job may act on it: REQUESTED (due), IN_PROGRESS (resuming after a crash
# mid-submission), IN_ERROR_RETRY (the same job, retried after a transient nbn failure).
SUBMITTABLE_STATUSES = frozenset({S.REQUESTED, S.IN_ERROR_RETRY, S.IN_PROGRESS})

DATE_CODE = "constraints.local.date.future.or.present"
DATE_MESSAGE = "must not be null or in the past"


def is_open(status: str | None) -> bool:
    """True while the cancellation blocks a new request."""
    return status in OPEN_STATUSES


def is_eligible(service_status: str, eligible_for_cancellation: bool) -> bool:
    """A service can be cancelled while it is active and nothing marks it ineligible."""
    return service_status == ServiceStatus.ACTIVE and eligible_for_cancellation


def can_request(eligible: bool, cancellation_status: str | None) -> bool:
    """`canRequestCancellation`: eligible, and no cancellation is open."""
    return eligible and not is_open(cancellation_status)


def can_change(cancellation_status: str | None) -> bool:
    """`canAbortCancellation` and `canRescheduleCancellation`: REQUESTED or IN_ERROR."""
    return cancellation_status in CHANGEABLE_STATUSES


def date_is_acceptable(value: date | None, today: date) -> bool:
    """A cancellation date must be given and be today or later (business time zone)."""
    return value is not None and value >= today


def not_eligible() -> SubError:
    """Refusal of a request for a service that cannot be cancelled (as the seed writes it)."""
    return SubError(
        code="constraints.service.not.eligible.for.cancellation",
        message="The Service is not eligible for cancellation",
        object="Service",
        field="status",
        rejected_value=True,
    )


def already_requested() -> SubError:
    """Refusal of a second request while one is open."""
    return SubError(
        code="constraints.service-cancellation.already.requested",
        message="The Service Cancellation is already requested",
        object="ServiceCancellation",
        field="status",
        rejected_value=None,
    )


def not_requested() -> SubError:
    """Refusal of a reschedule or abort unless REQUESTED or IN_ERROR (the seed's wording)."""
    return SubError(
        code="constraints.service-cancellation.not.requested",
        message="The Service Cancellation is not requested",
        object="ServiceCancellation",
        field="status",
        rejected_value=None,
    )


def rejected_by_nbn(message: str) -> SubError:
    """The outcome shown for a request the nbn rejected while processing it."""
    return SubError(
        code="constraints.service-cancellation.rejected",
        message=message,
        object="ServiceCancellation",
        field="status",
        rejected_value=S.REJECTED.value,
    )


def request_refusal(*, eligible: bool, open_status: str | None) -> SubError | None:
    """The first rule a new request breaks: eligibility, then an open cancellation."""
    if not eligible:
        return not_eligible()
    if is_open(open_status):
        return already_requested()
    return None


def change_refusal(status: str | None) -> SubError | None:
    """Why a reschedule or abort is refused, or None when allowed."""
    return None if can_change(status) else not_requested()


def being_processed(status: str, submit_at: datetime | None, now: datetime) -> bool:
    """True while the request is with the submission process: GET answers 202."""
    if status in (S.IN_PROGRESS, S.IN_ERROR_RETRY):
        return True
    return status == S.REQUESTED and submit_at is not None and submit_at <= now


def may_submit(status: str, current_submission: int, job_submission: int) -> bool:
    """A submission job acts only if it is the latest one scheduled and the request is live;
    a transient failure keeps the number, so the retried job still acts."""
    return status in SUBMITTABLE_STATUSES and current_submission == job_submission
