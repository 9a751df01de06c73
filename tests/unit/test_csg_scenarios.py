"""The CSG simulator's scenarios and CSG's cancellation rules, as pure functions."""

from __future__ import annotations

import pytest

from cancelgate.upstream.csg.scenarios import (
    ALREADY_CANCELLED,
    CANCELLED,
    COMPLETED,
    COMPLETED_STATUS,
    CONFIRMED,
    CSG_REFUSES,
    CSG_SLOW,
    CSG_UNAVAILABLE,
    INSTALLATION,
    SCENARIOS,
    TECHNICAL,
    Verdict,
    initial_status,
    order_class_for,
    refusal_reason,
    verdict,
)

APPOINTMENT = "APT-42"


def test_scenarios_are_exactly_the_documented_seven() -> None:
    assert SCENARIOS == (
        "installation",
        "technical",
        "already-cancelled",
        "completed",
        "csg-refuses",
        "csg-unavailable",
        "csg-slow",
    )


@pytest.mark.parametrize(
    ("scenario", "order_class"),
    [
        (INSTALLATION, "S"),
        (TECHNICAL, "T"),
        (ALREADY_CANCELLED, "S"),
        (COMPLETED, "S"),
        (CSG_REFUSES, "S"),
        (CSG_UNAVAILABLE, "S"),
        (CSG_SLOW, "S"),
        ("no-such-scenario", "S"),
    ],
)
def test_order_class_for(scenario: str, order_class: str) -> None:
    assert order_class_for(scenario) == order_class


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (INSTALLATION, "confirmed"),
        (TECHNICAL, "confirmed"),
        (ALREADY_CANCELLED, "cancelled"),
        (COMPLETED, "completed"),
        (CSG_REFUSES, "confirmed"),
        (CSG_UNAVAILABLE, "confirmed"),
        (CSG_SLOW, "confirmed"),
        ("no-such-scenario", "confirmed"),
    ],
)
def test_initial_status(scenario: str, status: str) -> None:
    assert initial_status(scenario) == status


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (INSTALLATION, Verdict.CANCEL),
        (TECHNICAL, Verdict.CANCEL),
        (ALREADY_CANCELLED, Verdict.ALREADY),
        (COMPLETED, Verdict.REFUSE),
        (CSG_REFUSES, Verdict.REFUSE),
        (CSG_UNAVAILABLE, Verdict.UNAVAILABLE),
        (CSG_SLOW, Verdict.CANCEL),
    ],
)
def test_verdict_on_a_fresh_fixture(scenario: str, expected: Verdict) -> None:
    assert verdict(scenario, initial_status(scenario)) is expected


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (INSTALLATION, Verdict.ALREADY),
        (TECHNICAL, Verdict.ALREADY),
        (ALREADY_CANCELLED, Verdict.ALREADY),
        (CSG_REFUSES, Verdict.ALREADY),
        (CSG_SLOW, Verdict.ALREADY),
        (CSG_UNAVAILABLE, Verdict.UNAVAILABLE),
    ],
)
def test_verdict_once_cancelled_is_already_except_during_an_outage(
    scenario: str, expected: Verdict
) -> None:
    assert verdict(scenario, CANCELLED) is expected


@pytest.mark.parametrize("status", [CONFIRMED, CANCELLED, COMPLETED_STATUS, "inProgress", None])
def test_unavailable_wins_over_any_status(status: str | None) -> None:
    assert verdict(CSG_UNAVAILABLE, status) is Verdict.UNAVAILABLE


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        (None, None),
        (None, CONFIRMED),
        (CSG_REFUSES, CONFIRMED),
        (COMPLETED, COMPLETED_STATUS),
        (INSTALLATION, COMPLETED_STATUS),
        (TECHNICAL, COMPLETED_STATUS),
        (CSG_SLOW, COMPLETED_STATUS),
        (INSTALLATION, "inProgress"),
        (INSTALLATION, "Confirmed"),
        (INSTALLATION, None),
    ],
)
def test_verdict_refuses(scenario: str | None, status: str | None) -> None:
    assert verdict(scenario, status) is Verdict.REFUSE


@pytest.mark.parametrize("scenario", [INSTALLATION, TECHNICAL, CSG_SLOW, ALREADY_CANCELLED])
def test_verdict_cancels_a_confirmed_appointment(scenario: str) -> None:
    assert verdict(scenario, CONFIRMED) is Verdict.CANCEL


@pytest.mark.parametrize("status", [None, CONFIRMED, COMPLETED_STATUS])
def test_refusal_reason_for_an_unknown_appointment(status: str | None) -> None:
    assert refusal_reason(APPOINTMENT, None, status) == "Appointment APT-42 does not exist in CSG."


@pytest.mark.parametrize("scenario", [COMPLETED, INSTALLATION, CSG_REFUSES])
def test_refusal_reason_for_a_completed_appointment(scenario: str) -> None:
    assert (
        refusal_reason(APPOINTMENT, scenario, COMPLETED_STATUS)
        == "Appointment APT-42 is completed and cannot be cancelled."
    )


def test_refusal_reason_when_csg_refuses() -> None:
    assert refusal_reason(APPOINTMENT, CSG_REFUSES, CONFIRMED) == (
        "Appointment APT-42 cannot be cancelled: a technician has already been dispatched."
    )


def test_refusal_reason_names_any_other_status() -> None:
    assert (
        refusal_reason(APPOINTMENT, INSTALLATION, "inProgress")
        == "Appointment APT-42 is inProgress and cannot be cancelled."
    )


def test_refusal_reason_uses_the_given_id() -> None:
    assert refusal_reason("X-1", None, None) == "Appointment X-1 does not exist in CSG."


def test_every_refusal_of_a_fresh_fixture_has_a_specific_reason() -> None:
    refused = [s for s in SCENARIOS if verdict(s, initial_status(s)) is Verdict.REFUSE]
    assert refused == [COMPLETED, CSG_REFUSES]
    reasons = {refusal_reason(APPOINTMENT, s, initial_status(s)) for s in refused}
    assert reasons == {
        "Appointment APT-42 is completed and cannot be cancelled.",
        "Appointment APT-42 cannot be cancelled: a technician has already been dispatched.",
    }
