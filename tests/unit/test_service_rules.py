"""Service-cancellation rules: statuses, derived flags, refusals and the submission guard."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cancelgate.domain.errors import SubError
from cancelgate.domain.services import (
    ServiceCancellationStatus,
    being_processed,
    can_change,
    can_request,
    change_refusal,
    date_is_acceptable,
    is_eligible,
    is_open,
    may_submit,
    rejected_by_nbn,
    request_refusal,
)

S = ServiceCancellationStatus
ALL_STATUSES = list(S)
# Written out here, not imported: the rules below must agree with these, not with themselves.
OPEN = (S.REQUESTED, S.IN_PROGRESS, S.IN_ERROR_RETRY, S.IN_ERROR)
CHANGEABLE = (S.REQUESTED, S.IN_ERROR)
SUBMITTABLE = (S.REQUESTED, S.IN_ERROR_RETRY, S.IN_PROGRESS)
NOW = datetime(2026, 5, 26, 3, 0, tzinfo=UTC)
TODAY = date(2026, 5, 26)

NOT_ELIGIBLE = SubError(
    code="constraints.service.not.eligible.for.cancellation",
    message="The Service is not eligible for cancellation",
    object="Service",
    field="status",
    rejected_value=True,
)
ALREADY_REQUESTED = SubError(
    code="constraints.service-cancellation.already.requested",
    message="The Service Cancellation is already requested",
    object="ServiceCancellation",
    field="status",
    rejected_value=None,
)
NOT_REQUESTED = SubError(
    code="constraints.service-cancellation.not.requested",
    message="The Service Cancellation is not requested",
    object="ServiceCancellation",
    field="status",
    rejected_value=None,
)


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_is_open(status: ServiceCancellationStatus) -> None:
    expected = status in OPEN
    assert is_open(status) is expected
    assert is_open(status.value) is expected


@pytest.mark.parametrize("status", [None, "", "requested", "UNKNOWN"])
def test_is_open_false_for_no_or_unknown_status(status: str | None) -> None:
    assert is_open(status) is False


@pytest.mark.parametrize(
    ("service_status", "eligible_for_cancellation", "expected"),
    [
        ("active", True, True),
        ("active", False, False),
        ("cancelled", True, False),
        ("cancelled", False, False),
        ("ACTIVE", True, False),
        ("", True, False),
    ],
)
def test_is_eligible(service_status: str, eligible_for_cancellation: bool, expected: bool) -> None:
    assert is_eligible(service_status, eligible_for_cancellation) is expected


@pytest.mark.parametrize("status", [None, S.COMPLETED, S.ABORTED, S.REJECTED])
def test_can_request_when_eligible_and_nothing_open(status: str | None) -> None:
    assert can_request(True, status) is True


@pytest.mark.parametrize("status", OPEN)
def test_cannot_request_while_a_cancellation_is_open(status: str) -> None:
    assert can_request(True, status) is False


@pytest.mark.parametrize("status", [None, *ALL_STATUSES])
def test_cannot_request_when_not_eligible(status: str | None) -> None:
    assert can_request(False, status) is False


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_can_change(status: ServiceCancellationStatus) -> None:
    assert can_change(status) is (status in CHANGEABLE)


@pytest.mark.parametrize("status", [None, "", "requested"])
def test_cannot_change_without_a_known_status(status: str | None) -> None:
    assert can_change(status) is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (TODAY - timedelta(days=1), False),
        (date(2000, 1, 1), False),
        (TODAY, True),
        (TODAY + timedelta(days=1), True),
        (date(2099, 12, 31), True),
    ],
)
def test_date_is_acceptable(value: date | None, expected: bool) -> None:
    assert date_is_acceptable(value, TODAY) is expected


def test_rejected_by_nbn_carries_the_message() -> None:
    message = "ServiceCancellationRejectedException: Service ID : AVC000000000001 is busy."
    assert rejected_by_nbn(message) == SubError(
        code="constraints.service-cancellation.rejected",
        message=message,
        object="ServiceCancellation",
        field="status",
        rejected_value="REJECTED",
    )


@pytest.mark.parametrize("status", [None, S.COMPLETED, S.ABORTED, S.REJECTED])
def test_request_accepted_when_eligible_and_nothing_open(status: str | None) -> None:
    assert request_refusal(eligible=True, open_status=status) is None


@pytest.mark.parametrize("status", OPEN)
def test_request_refused_as_already_requested_while_open(status: str) -> None:
    assert request_refusal(eligible=True, open_status=status) == ALREADY_REQUESTED


@pytest.mark.parametrize("status", [None, *ALL_STATUSES])
def test_not_eligible_wins_over_an_open_cancellation(status: str | None) -> None:
    assert request_refusal(eligible=False, open_status=status) == NOT_ELIGIBLE


@pytest.mark.parametrize("status", CHANGEABLE)
def test_change_allowed(status: str) -> None:
    assert change_refusal(status) is None


@pytest.mark.parametrize(
    "status", [None, S.IN_PROGRESS, S.IN_ERROR_RETRY, S.COMPLETED, S.ABORTED, S.REJECTED]
)
def test_change_refused_as_not_requested(status: str | None) -> None:
    assert change_refusal(status) == NOT_REQUESTED


@pytest.mark.parametrize("status", [S.IN_PROGRESS, S.IN_ERROR_RETRY])
@pytest.mark.parametrize(
    "submit_at", [None, NOW - timedelta(hours=1), NOW, NOW + timedelta(days=3)]
)
def test_in_progress_and_retry_are_always_being_processed(
    status: ServiceCancellationStatus, submit_at: datetime | None
) -> None:
    assert being_processed(status, submit_at, NOW) is True
    assert being_processed(status.value, submit_at, NOW) is True


@pytest.mark.parametrize(
    ("submit_at", "expected"),
    [
        (None, False),
        (NOW + timedelta(microseconds=1), False),
        (NOW + timedelta(days=1), False),
        (NOW, True),
        (NOW - timedelta(seconds=1), True),
        (NOW - timedelta(days=30), True),
    ],
)
def test_requested_is_being_processed_once_its_submission_is_due(
    submit_at: datetime | None, expected: bool
) -> None:
    assert being_processed(S.REQUESTED, submit_at, NOW) is expected
    assert being_processed("REQUESTED", submit_at, NOW) is expected


@pytest.mark.parametrize("status", [S.COMPLETED, S.ABORTED, S.IN_ERROR, S.REJECTED])
@pytest.mark.parametrize("submit_at", [None, NOW - timedelta(hours=1), NOW + timedelta(hours=1)])
def test_other_statuses_are_never_being_processed(
    status: ServiceCancellationStatus, submit_at: datetime | None
) -> None:
    assert being_processed(status, submit_at, NOW) is False


@pytest.mark.parametrize("status", ALL_STATUSES)
def test_may_submit_when_live_and_current(status: ServiceCancellationStatus) -> None:
    expected = status in SUBMITTABLE
    assert may_submit(status, 3, 3) is expected


@pytest.mark.parametrize("status", SUBMITTABLE)
@pytest.mark.parametrize(("current", "job"), [(2, 1), (1, 2), (0, 1)])
def test_stale_job_may_not_submit(status: str, current: int, job: int) -> None:
    assert may_submit(status, current, job) is False


def test_may_submit_rejects_unknown_status() -> None:
    assert may_submit("requested", 0, 0) is False


def test_a_cancellation_that_may_still_change_or_be_submitted_blocks_a_new_request() -> None:
    live = [s for s in S if can_change(s) or may_submit(s, 1, 1)]
    assert live
    assert [s for s in live if can_request(True, s)] == []


def test_a_retried_job_keeps_acting_and_a_rescheduled_one_does_not() -> None:
    # A transient nbn failure keeps the submission number and retries the same job.
    assert may_submit(S.IN_ERROR_RETRY, 4, 4) is True
    assert may_submit(S.IN_ERROR_RETRY.value, 4, 4) is True
    # Rescheduling (or giving up) bumps it: the job of the old number stops.
    assert may_submit(S.IN_ERROR_RETRY, 5, 4) is False
    assert may_submit(S.REQUESTED, 5, 4) is False
