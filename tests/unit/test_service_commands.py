"""Service-cancellation command schemas, the submission time of a cancellation, and the wire
shape of the service-cancellation resource and of the service."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ValidationError

from cancelgate.services.repository import CancellationRow, ServiceRow
from cancelgate.services.scheduling import submission_time
from cancelgate.services.schemas import (
    AbortServiceCancellationCommand,
    RescheduleServiceCancellationCommand,
    ServiceBody,
    ServiceCancellationBody,
    ServiceCancellationRequestCommand,
    service_body,
    service_cancellation_body,
)

TODAY = date(2026, 5, 26)
CONTEXT = {"today": TODAY}
SYDNEY = ZoneInfo("Australia/Sydney")
DATED = [ServiceCancellationRequestCommand, RescheduleServiceCancellationCommand]


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    return model.model_validate(data, strict=True, context=CONTEXT)


def errors_of(model: type[BaseModel], data: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as info:
        validate(model, data)
    return [{"type": e["type"], "loc": e["loc"], "msg": e["msg"]} for e in info.value.errors()]


@pytest.mark.parametrize("model", DATED)
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-05-26", date(2026, 5, 26)),
        ("2026-05-27", date(2026, 5, 27)),
        ("2027-02-28", date(2027, 2, 28)),
        ("2028-02-29", date(2028, 2, 29)),
    ],
)
def test_today_and_future_dates_are_accepted(
    model: type[ServiceCancellationRequestCommand], raw: str, expected: date
) -> None:
    command = model.model_validate(
        {"serviceId": 42, "cancellationDate": raw}, strict=True, context=CONTEXT
    )
    assert command.serviceId == 42
    assert command.cancellationDate == expected
    assert type(command.cancellationDate) is date


@pytest.mark.parametrize("model", DATED)
@pytest.mark.parametrize(
    "data",
    [
        {"serviceId": 42},
        {"serviceId": 42, "cancellationDate": None},
        {"serviceId": 42, "cancellationDate": "2026-05-25"},
        {"serviceId": 42, "cancellationDate": "2000-01-01"},
    ],
)
def test_missing_null_or_past_date_is_refused(model: type[BaseModel], data: Any) -> None:
    assert errors_of(model, data) == [
        {
            "type": "constraints.local.date.future.or.present",
            "loc": ("cancellationDate",),
            "msg": "must not be null or in the past",
        }
    ]


@pytest.mark.parametrize("model", DATED)
@pytest.mark.parametrize(
    "raw",
    [
        "2025-13-01",
        "2026-02-30",
        "26/05/2025",
        20250526,
        "2025-05-26T00:00:00",
        "2026-05-26 ",
        "20260526",
        "",
        True,
        ["2026-05-26"],
    ],
)
def test_malformed_date_is_a_date_type_error(model: type[BaseModel], raw: Any) -> None:
    errors = errors_of(model, {"serviceId": 42, "cancellationDate": raw})
    assert [(e["type"], e["loc"]) for e in errors] == [("date_type", ("cancellationDate",))]
    assert errors[0]["msg"] == "must be a date (yyyy-MM-dd)"


def test_a_date_object_is_not_accepted_in_place_of_a_string() -> None:
    errors = errors_of(
        ServiceCancellationRequestCommand, {"serviceId": 1, "cancellationDate": TODAY}
    )
    assert [e["type"] for e in errors] == ["date_type"]


def test_past_date_depends_on_the_context_today() -> None:
    data = {"serviceId": 1, "cancellationDate": "2026-05-26"}
    later = {"today": TODAY + timedelta(days=1)}
    with pytest.raises(ValidationError) as info:
        ServiceCancellationRequestCommand.model_validate(data, strict=True, context=later)
    assert [e["type"] for e in info.value.errors()] == ["constraints.local.date.future.or.present"]


@pytest.mark.parametrize("model", [*DATED, AbortServiceCancellationCommand])
def test_service_id_is_required(model: type[BaseModel]) -> None:
    errors = errors_of(model, {"cancellationDate": "2026-06-01"})
    assert ("missing", ("serviceId",)) in [(e["type"], e["loc"]) for e in errors]


@pytest.mark.parametrize("model", DATED)
def test_missing_service_id_and_date_are_both_reported(model: type[BaseModel]) -> None:
    errors = errors_of(model, {})
    assert sorted((e["type"], e["loc"]) for e in errors) == [
        ("constraints.local.date.future.or.present", ("cancellationDate",)),
        ("missing", ("serviceId",)),
    ]


@pytest.mark.parametrize("model", [*DATED, AbortServiceCancellationCommand])
@pytest.mark.parametrize(
    ("service_id", "error_type"),
    [
        ("42", "int_type"),
        (42.0, "int_type"),
        (True, "int_type"),
        (None, "int_type"),
        (2**31, "less_than_equal"),
        (-(2**31) - 1, "greater_than_equal"),
    ],
)
def test_service_id_must_be_a_strict_32_bit_integer(
    model: type[BaseModel], service_id: Any, error_type: str
) -> None:
    errors = errors_of(model, {"serviceId": service_id, "cancellationDate": "2026-06-01"})
    assert [(e["type"], e["loc"]) for e in errors] == [(error_type, ("serviceId",))]


@pytest.mark.parametrize("service_id", [2**31 - 1, -(2**31), 0])
def test_service_id_bounds_are_inclusive(service_id: int) -> None:
    command = validate(
        ServiceCancellationRequestCommand,
        {"serviceId": service_id, "cancellationDate": "2026-06-01"},
    )
    assert isinstance(command, ServiceCancellationRequestCommand)
    assert command.serviceId == service_id


@pytest.mark.parametrize("model", DATED)
def test_extra_fields_are_ignored(model: type[ServiceCancellationRequestCommand]) -> None:
    command = model.model_validate(
        {"serviceId": 7, "cancellationDate": "2026-06-01", "reason": "moving", "status": 1},
        strict=True,
        context=CONTEXT,
    )
    assert command.model_dump() == {"serviceId": 7, "cancellationDate": date(2026, 6, 1)}


@pytest.mark.parametrize(
    "data",
    [
        {"serviceId": 7},
        {"serviceId": 7, "cancellationDate": "2000-01-01"},
        {"serviceId": 7, "cancellationDate": "not a date", "other": [1]},
    ],
)
def test_abort_only_needs_a_service_id(data: dict[str, Any]) -> None:
    command = AbortServiceCancellationCommand.model_validate(data, strict=True, context=CONTEXT)
    assert command.model_dump() == {"serviceId": 7}


def test_abort_needs_no_context() -> None:
    command = AbortServiceCancellationCommand.model_validate({"serviceId": 9}, strict=True)
    assert command.serviceId == 9


@pytest.mark.parametrize(
    ("day", "now", "expected"),
    [
        (
            date(2026, 11, 22),
            datetime(2026, 11, 20, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 21, 13, 0, tzinfo=UTC),
        ),
        (
            date(2026, 6, 1),
            datetime(2026, 5, 31, 13, 59, 59, tzinfo=UTC),
            datetime(2026, 5, 31, 14, 0, tzinfo=UTC),
        ),
        (
            date(2026, 10, 5),
            datetime(2026, 10, 1, tzinfo=UTC),
            datetime(2026, 10, 4, 13, 0, tzinfo=UTC),
        ),
        (
            date(2026, 4, 6),
            datetime(2026, 4, 1, tzinfo=UTC),
            datetime(2026, 4, 5, 14, 0, tzinfo=UTC),
        ),
    ],
)
def test_submission_time_is_local_midnight_of_a_future_day(
    day: date, now: datetime, expected: datetime
) -> None:
    assert submission_time(day, SYDNEY, now) == expected


@pytest.mark.parametrize(
    ("day", "now"),
    [
        (date(2026, 11, 22), datetime(2026, 11, 21, 13, 0, 1, tzinfo=UTC)),
        (date(2026, 11, 22), datetime(2026, 11, 22, 5, 30, tzinfo=UTC)),
        (date(2026, 6, 1), datetime(2026, 6, 1, 0, 0, tzinfo=UTC)),
        (date(2020, 1, 1), datetime(2026, 5, 26, 3, 0, tzinfo=UTC)),
    ],
)
def test_submission_time_is_now_once_midnight_has_passed(day: date, now: datetime) -> None:
    assert submission_time(day, SYDNEY, now) == now


def test_submission_time_at_exactly_midnight() -> None:
    midnight = datetime(2026, 11, 21, 13, 0, tzinfo=UTC)
    assert submission_time(date(2026, 11, 22), SYDNEY, midnight) == midnight


def test_submission_time_uses_the_given_zone() -> None:
    now = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert submission_time(date(2026, 11, 22), ZoneInfo("UTC"), now) == datetime(
        2026, 11, 22, 0, 0, tzinfo=UTC
    )
    assert submission_time(date(2026, 11, 22), SYDNEY, now) == datetime(
        2026, 11, 21, 13, 0, tzinfo=UTC
    )


ACTIVE = ServiceRow(
    id=12,
    tenant_id=3,
    nbn_service_id="AVC000000000012",
    status="active",
    eligible_for_cancellation=True,
    cancelled_on=None,
)
REQUESTED = CancellationRow(
    id=40,
    status="REQUESTED",
    request_date=date(2026, 6, 1),
    # Sydney time, microseconds: the wire shows UTC to the second.
    requested_on=datetime(2026, 5, 26, 10, 30, 5, 999_999, tzinfo=SYDNEY),
    requested_by_id=7,
    requested_by_name="API User",
    requested_by_email="api@example.com",
    error_detail=None,
    cancelled_on=None,
    aborted_on=None,
    aborted_by_id=None,
    aborted_by_name=None,
    aborted_by_email=None,
    submission=2,
    submit_at=datetime(2026, 5, 31, 14, 0, tzinfo=UTC),
    submission_job_id=99,
    attempts=1,
    request_key=uuid.UUID(int=1),
)


def wire(body: BaseModel) -> str:
    """The bytes a JSONResponse of the body's dump sends."""
    return json.dumps(
        body.model_dump(), ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    )


def test_the_resource_before_any_request_is_every_field_null() -> None:
    assert wire(service_cancellation_body(ACTIVE, None)) == (
        '{"serviceId":12,"status":null,"requestDate":null,"requestedOn":null,'
        '"requestedById":null,"requestedByName":null,"requestedByEmail":null,'
        '"errorDetail":null,"cancelledOn":null,"abortedOn":null,"abortedById":null,'
        '"abortedByName":null,"abortedByEmail":null,"canRequestCancellation":true,'
        '"canAbortCancellation":false,"canRescheduleCancellation":false,"cancelled":false}'
    )


def test_the_resource_of_a_request_in_field_order_with_utc_instants() -> None:
    assert wire(service_cancellation_body(ACTIVE, REQUESTED)) == (
        '{"serviceId":12,"status":"REQUESTED","requestDate":"2026-06-01",'
        '"requestedOn":"2026-05-26T00:30:05Z","requestedById":7,"requestedByName":"API User",'
        '"requestedByEmail":"api@example.com","errorDetail":null,"cancelledOn":null,'
        '"abortedOn":null,"abortedById":null,"abortedByName":null,"abortedByEmail":null,'
        '"canRequestCancellation":false,"canAbortCancellation":true,'
        '"canRescheduleCancellation":true,"cancelled":false}'
    )


def test_the_resource_of_a_cancelled_service() -> None:
    at = datetime(2026, 6, 1, 0, 0, 1, tzinfo=SYDNEY)
    cancelled = ServiceRow(3, 3, "AVC1", "cancelled", True, at)
    completed = CancellationRow(**{**REQUESTED.__dict__, "status": "COMPLETED", "cancelled_on": at})
    body = service_cancellation_body(cancelled, completed)
    assert body.cancelledOn == "2026-05-31T14:00:01Z" and body.cancelled is True
    assert (body.canRequestCancellation, body.canAbortCancellation) == (False, False)
    assert body.canRescheduleCancellation is False


def test_the_service_wraps_the_same_resource() -> None:
    body = service_body(ACTIVE, REQUESTED)
    assert list(body.model_dump()) == [
        "id", "nbnServiceId", "status", "eligibleForCancellation", "cancelledOn",
        "serviceCancellation",
    ]  # fmt: skip
    assert body.serviceCancellation == service_cancellation_body(ACTIVE, REQUESTED)
    assert (body.id, body.nbnServiceId, body.eligibleForCancellation) == (
        12, "AVC000000000012", True,
    )  # fmt: skip
    ineligible = ServiceRow(12, 3, "AVC000000000012", "active", False, None)
    assert service_body(ineligible, None).eligibleForCancellation is False


def test_the_documented_schema_is_the_resource() -> None:
    schema = ServiceCancellationBody.model_json_schema()
    assert list(schema["properties"]) == list(service_cancellation_body(ACTIVE, None).model_dump())
    assert schema["required"] == list(schema["properties"])
    assert ServiceBody.model_json_schema()["properties"]["serviceCancellation"] == {
        "$ref": "#/$defs/ServiceCancellationBody"
    }
