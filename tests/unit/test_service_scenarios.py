"""The simulator's service scenarios: nbn statuses, verdicts and rejection messages."""

from __future__ import annotations

import pytest

from cancelgate.upstream.nbn.service_scenarios import (
    NBN_ACTIVE,
    NBN_CANCELLED,
    SCENARIOS,
    Verdict,
    nbn_status_for,
    rejection_message,
    verdict,
)

SERVICE_ID = "AVC000012345678"


def test_scenarios_are_exactly_the_documented_ten() -> None:
    assert SCENARIOS == (
        "active",
        "cancellation-requested",
        "cancellation-in-error",
        "cancellation-in-progress",
        "cancelled",
        "not-eligible",
        "rejected-by-nbn",
        "nbn-flaky",
        "nbn-down",
        "other-tenant",
    )


def test_nbn_statuses() -> None:
    assert NBN_ACTIVE == "Active"
    assert NBN_CANCELLED == "Cancelled"
    assert {v.value for v in Verdict} == {"accept", "reject", "unavailable"}


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "cancelled"])
def test_every_scenario_but_cancelled_starts_active(scenario: str) -> None:
    assert nbn_status_for(scenario) == "Active"


def test_cancelled_scenario_starts_cancelled() -> None:
    assert nbn_status_for("cancelled") == "Cancelled"


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("active", Verdict.ACCEPT),
        ("cancellation-requested", Verdict.ACCEPT),
        ("cancellation-in-error", Verdict.ACCEPT),
        ("cancellation-in-progress", Verdict.ACCEPT),
        ("cancelled", Verdict.REJECT),
        ("not-eligible", Verdict.ACCEPT),
        ("rejected-by-nbn", Verdict.REJECT),
        ("nbn-flaky", Verdict.UNAVAILABLE),
        ("nbn-down", Verdict.UNAVAILABLE),
        ("other-tenant", Verdict.ACCEPT),
    ],
)
def test_first_submission_verdict_of_each_scenario(scenario: str, expected: Verdict) -> None:
    assert verdict(scenario, nbn_status_for(scenario), 0) is expected


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("active", Verdict.ACCEPT),
        ("cancelled", Verdict.REJECT),
        ("rejected-by-nbn", Verdict.REJECT),
        ("nbn-flaky", Verdict.ACCEPT),
        ("nbn-down", Verdict.UNAVAILABLE),
    ],
)
@pytest.mark.parametrize("submissions_before", [1, 2, 10])
def test_later_submission_verdict(
    scenario: str, expected: Verdict, submissions_before: int
) -> None:
    assert verdict(scenario, nbn_status_for(scenario), submissions_before) is expected


def test_nbn_flaky_is_unavailable_only_on_first_submission() -> None:
    answers = [verdict("nbn-flaky", NBN_ACTIVE, n) for n in range(4)]
    assert answers == [
        Verdict.UNAVAILABLE,
        Verdict.ACCEPT,
        Verdict.ACCEPT,
        Verdict.ACCEPT,
    ]


def test_nbn_flaky_after_cancellation_is_rejected() -> None:
    assert verdict("nbn-flaky", NBN_CANCELLED, 1) is Verdict.REJECT


@pytest.mark.parametrize("submissions_before", [0, 1, 5])
def test_unknown_service_is_rejected(submissions_before: int) -> None:
    assert verdict(None, None, submissions_before) is Verdict.REJECT


@pytest.mark.parametrize("scenario", ["active", "not-eligible", "other-tenant", "nbn-flaky"])
@pytest.mark.parametrize("status", [NBN_CANCELLED, None, "active", "Suspended"])
def test_non_active_service_is_rejected(scenario: str, status: str | None) -> None:
    assert verdict(scenario, status, 1) is Verdict.REJECT


@pytest.mark.parametrize("status", [NBN_ACTIVE, NBN_CANCELLED])
def test_nbn_down_is_unavailable_whatever_the_status(status: str) -> None:
    assert verdict("nbn-down", status, 0) is Verdict.UNAVAILABLE
    assert verdict("nbn-down", status, 7) is Verdict.UNAVAILABLE


def test_unknown_scenario_on_active_service_is_accepted() -> None:
    assert verdict("no-such-scenario", NBN_ACTIVE, 0) is Verdict.ACCEPT


def test_rejection_message_for_unknown_service() -> None:
    message = rejection_message(SERVICE_ID, None, None)
    assert message == f"ServiceNotFoundException: Service ID : {SERVICE_ID} does not exist."


@pytest.mark.parametrize("status", [NBN_CANCELLED, None, "Suspended"])
def test_rejection_message_for_non_active_service(status: str | None) -> None:
    message = rejection_message(SERVICE_ID, "cancelled", status)
    assert message == f"InvalidServiceStateException: Service ID : {SERVICE_ID} is not active."


def test_rejection_message_for_rejected_by_nbn() -> None:
    message = rejection_message(SERVICE_ID, "rejected-by-nbn", NBN_ACTIVE)
    assert message == (
        f"ServiceCancellationRejectedException: Service ID : {SERVICE_ID} "
        "has an open modification order and cannot be cancelled."
    )


@pytest.mark.parametrize(
    ("scenario", "status", "prefix"),
    [
        (None, None, "ServiceNotFoundException"),
        ("cancelled", NBN_CANCELLED, "InvalidServiceStateException"),
        ("rejected-by-nbn", NBN_ACTIVE, "ServiceCancellationRejectedException"),
    ],
)
@pytest.mark.parametrize("service_id", ["AVC000000000001", "AVC999999999999", "x"])
def test_rejection_messages_name_the_service(
    scenario: str | None, status: str | None, prefix: str, service_id: str
) -> None:
    message = rejection_message(service_id, scenario, status)
    assert message.startswith(f"{prefix}: ")
    assert f"Service ID : {service_id} " in message
