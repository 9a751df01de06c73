"""Local cancellation rules: refusal order, nbn-check refusals and the state machine."""

from __future__ import annotations

from uuid import UUID

import pytest

from cancelgate.domain.appointments import (
    AppointmentStatus,
    CancellationStatus,
    NbnCheck,
    can_finish,
    cancellation_in_progress,
    failed_in_processing,
    not_booked,
    refusal_for_nbn_check,
    request_refusal,
)
from cancelgate.domain.errors import SubError

NBN_ID = UUID("3f2504e0-4f89-41d3-9a0c-0305e82c3301")


def test_booked_without_open_cancellation_is_accepted() -> None:
    assert request_refusal(appointment_id=7, status="booked", has_open_cancellation=False) is None


@pytest.mark.parametrize("status", ["reserved", "in progress", "complete", "cancelled", "Booked"])
def test_not_booked_is_refused_with_the_status_as_rejected_value(status: str) -> None:
    refusal = request_refusal(appointment_id=7, status=status, has_open_cancellation=False)
    assert refusal == SubError(
        code="constraints.appointment.not.booked",
        message="Appointment with id 7 cannot be cancelled as it is not booked",
        object="Appointment",
        field="status",
        rejected_value=status,
    )


def test_not_booked_wins_over_cancellation_in_progress() -> None:
    refusal = request_refusal(appointment_id=12, status="cancelled", has_open_cancellation=True)
    assert refusal is not None
    assert refusal.code == "constraints.appointment.not.booked"
    assert refusal.rejected_value == "cancelled"


def test_booked_with_open_cancellation_is_refused_as_in_progress() -> None:
    refusal = request_refusal(appointment_id=12, status="booked", has_open_cancellation=True)
    assert refusal == SubError(
        code="constraints.appointment-cancellation.in.progress",
        message="Appointment with id 12 already has a cancellation in progress",
        object="AppointmentCancellation",
        field="status",
        rejected_value="IN_PROGRESS",
    )


def test_not_booked_accepts_the_enum_member() -> None:
    assert not_booked(1, AppointmentStatus.BOOKED) is None
    assert not_booked(1, AppointmentStatus.COMPLETE) is not None


def test_cancellation_in_progress_rejected_value_is_a_plain_string() -> None:
    refusal = cancellation_in_progress(5)
    assert type(refusal.rejected_value) is str
    assert refusal.rejected_value == "IN_PROGRESS"


def test_cancellable_nbn_check_is_not_a_refusal() -> None:
    assert refusal_for_nbn_check(NbnCheck.CANCELLABLE, NBN_ID) is None


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (NbnCheck.PENDING_CANCELLATION, "Appointment is already pending cancellation."),
        (NbnCheck.PAST_PONR, "Appointment is past point of no return."),
        (NbnCheck.INVALID_STATE, "Appointment not in a valid state to cancel."),
    ],
)
def test_nbn_check_refusals(check: NbnCheck, message: str) -> None:
    refusal = refusal_for_nbn_check(check, NBN_ID)
    assert refusal == SubError(
        code="constraints.appointment.not.cancellable",
        message=message,
        object="Appointment",
        field="nbnInternalAppointmentId",
        rejected_value="3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    )
    assert refusal is not None
    assert type(refusal.rejected_value) is str


def test_every_non_cancellable_check_has_a_refusal() -> None:
    refused = [c for c in NbnCheck if refusal_for_nbn_check(c, NBN_ID) is not None]
    assert refused == [NbnCheck.PENDING_CANCELLATION, NbnCheck.PAST_PONR, NbnCheck.INVALID_STATE]


def test_failed_in_processing_keeps_the_nbn_message() -> None:
    assert failed_in_processing("nbn said no") == SubError(
        code="constraints.appointment-cancellation.failed",
        message="nbn said no",
        object="AppointmentCancellation",
        field="status",
        rejected_value="FAILED",
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("IN_PROGRESS", True),
        (CancellationStatus.IN_PROGRESS, True),
        ("COMPLETED", False),
        ("FAILED", False),
        ("in_progress", False),
        ("", False),
    ],
)
def test_can_finish(status: str, expected: bool) -> None:
    assert can_finish(status) is expected


def test_wire_values_of_the_enums() -> None:
    assert [s.value for s in AppointmentStatus] == [
        "reserved",
        "booked",
        "in progress",
        "complete",
        "cancelled",
    ]
    assert [s.value for s in CancellationStatus] == ["IN_PROGRESS", "COMPLETED", "FAILED"]
