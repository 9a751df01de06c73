"""The simulator's scenarios and the nbn's cancellation rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cancelgate.domain.appointments import NbnCheck
from cancelgate.upstream.nbn.scenarios import (
    NBN_BOOKED,
    NBN_CANCELLED,
    NBN_COMPLETE,
    NBN_IN_PROGRESS,
    NBN_PENDING_CANCELLATION,
    SCENARIOS,
    check,
    nbn_status_for,
    past_cponr_message,
    refusal_message,
)

START = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)
PONR_HOURS = 48
PONR = START - timedelta(hours=PONR_HOURS)


def test_scenarios_are_exactly_the_documented_ten() -> None:
    assert len(SCENARIOS) == 10
    assert set(SCENARIOS) == {
        "booked",
        "booked-slow",
        "complete",
        "cancellation-in-progress",
        "pending-cancellation",
        "past-ponr",
        "invalid-state",
        "upstream-unavailable",
        "fails-in-processing",
        "other-tenant",
    }


@pytest.mark.parametrize(
    ("scenario", "status"),
    [
        ("pending-cancellation", "Pending Cancellation"),
        ("invalid-state", "In Progress"),
        ("complete", "Complete"),
        ("booked", "Booked"),
        ("booked-slow", "Booked"),
        ("cancellation-in-progress", "Booked"),
        ("past-ponr", "Booked"),
        ("upstream-unavailable", "Booked"),
        ("fails-in-processing", "Booked"),
        ("other-tenant", "Booked"),
        ("no-such-scenario", "Booked"),
    ],
)
def test_nbn_status_for(scenario: str, status: str) -> None:
    assert nbn_status_for(scenario) == status


def test_every_scenario_has_a_known_nbn_status() -> None:
    known = {NBN_BOOKED, NBN_PENDING_CANCELLATION, NBN_IN_PROGRESS, NBN_COMPLETE}
    assert {nbn_status_for(s) for s in SCENARIOS} == known


def test_booked_well_before_ponr_is_cancellable() -> None:
    now = PONR - timedelta(days=3)
    assert check(NBN_BOOKED, START, now, PONR_HOURS) is NbnCheck.CANCELLABLE


def test_one_second_before_ponr_is_cancellable() -> None:
    now = PONR - timedelta(seconds=1)
    assert check(NBN_BOOKED, START, now, PONR_HOURS) is NbnCheck.CANCELLABLE


def test_exactly_at_ponr_is_past_ponr() -> None:
    assert check(NBN_BOOKED, START, PONR, PONR_HOURS) is NbnCheck.PAST_PONR


def test_after_start_is_past_ponr() -> None:
    now = START + timedelta(hours=1)
    assert check(NBN_BOOKED, START, now, PONR_HOURS) is NbnCheck.PAST_PONR


def test_ponr_hours_is_applied_in_hours() -> None:
    now = START - timedelta(hours=3)
    assert check(NBN_BOOKED, START, now, 2) is NbnCheck.CANCELLABLE
    assert check(NBN_BOOKED, START, now, 3) is NbnCheck.PAST_PONR
    assert check(NBN_BOOKED, START, now, 4) is NbnCheck.PAST_PONR


def test_zero_ponr_hours_means_cancellable_until_start() -> None:
    assert check(NBN_BOOKED, START, START - timedelta(seconds=1), 0) is NbnCheck.CANCELLABLE
    assert check(NBN_BOOKED, START, START, 0) is NbnCheck.PAST_PONR


@pytest.mark.parametrize(
    "now", [PONR - timedelta(days=10), PONR, START + timedelta(days=1)], ids=str
)
def test_pending_cancellation_regardless_of_time(now: datetime) -> None:
    assert check(NBN_PENDING_CANCELLATION, START, now, PONR_HOURS) is (
        NbnCheck.PENDING_CANCELLATION
    )


@pytest.mark.parametrize(
    "status", [NBN_IN_PROGRESS, NBN_COMPLETE, NBN_CANCELLED, "booked", "Reserved", ""]
)
def test_other_statuses_are_invalid_state_even_before_ponr(status: str) -> None:
    now = PONR - timedelta(days=10)
    assert check(status, START, now, PONR_HOURS) is NbnCheck.INVALID_STATE


def test_invalid_state_wins_over_past_ponr() -> None:
    assert check(NBN_COMPLETE, START, START, PONR_HOURS) is NbnCheck.INVALID_STATE


def test_past_cponr_message_matches_the_reference_string() -> None:
    reference = (
        "InvalidAppointmentException: Appointment ID : APT000000000001 is past the cancellation "
        'Point of No Return (cPoNR). "standard_description":"InvalidAppointmentException: '
        "Appointment ID : APT000000000001 is past the cancellation Point of No Return (cPoNR)."
    )
    assert past_cponr_message("APT000000000001") == reference
    assert past_cponr_message("APT000000000002") == reference.replace("01 is", "02 is")


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (
            NbnCheck.PAST_PONR,
            "InvalidAppointmentException: Appointment ID : APT9 is past the cancellation Point "
            'of No Return (cPoNR). "standard_description":"InvalidAppointmentException: '
            "Appointment ID : APT9 is past the cancellation Point of No Return (cPoNR).",
        ),
        (
            NbnCheck.PENDING_CANCELLATION,
            "InvalidAppointmentException: Appointment ID : APT9 is already pending cancellation.",
        ),
        (
            NbnCheck.INVALID_STATE,
            "InvalidAppointmentException: Appointment ID : APT9 is not in a valid state to cancel.",
        ),
    ],
)
def test_refusal_message(result: NbnCheck, message: str) -> None:
    assert refusal_message(result, "APT9") == message
