"""Reading the UX PATCH body (the seed's TMF646 subset) into a CancelRequest, or a 400."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from cancelgate.ux.errors import MALFORMED, UxError
from cancelgate.ux.requests import CancelRequest, parse_cancel_request

BAD_REQUEST_MESSAGE = "The request is invalid or not properly formed."
END = "2026-03-05T12:00:00.000-04:00"
REASON_ENTITY: dict[str, Any] = {
    "@type": "RelatedEntity",
    "@referredType": "CancellationReason",
    "id": "CR",
    "name": "User canceled appointment",
    "role": "cancellationReason",
}
ACCOUNT_ENTITY: dict[str, Any] = {
    "@type": "RelatedEntity",
    "@referredType": "BillingAccount",
    "id": "8211990010043396",
    "role": "Customer Account",
}
INSTALLATION_BODY: dict[str, Any] = {
    "status": "cancelled",
    "relatedEntity": [REASON_ENTITY, ACCOUNT_ENTITY],
    "validFor": {"endDateTime": END},
    "characteristics": [{"name": "orderClass", "value": "S"}],
}
TECHNICAL_BODY: dict[str, Any] = {
    "status": "cancelled",
    "relatedEntity": [REASON_ENTITY],
    "validFor": {"endDateTime": END},
    "characteristics": [{"name": "orderClass", "value": "T"}],
}

Mutation = Callable[[dict[str, Any]], None]


def installation() -> dict[str, Any]:
    """A fresh deep copy of the seed's installation example."""
    return copy.deepcopy(INSTALLATION_BODY)


def technical() -> dict[str, Any]:
    """A fresh deep copy of the seed's technical example."""
    return copy.deepcopy(TECHNICAL_BODY)


def expect_invalid(data: object) -> UxError:
    """The 400 UxError that parsing `data` raises."""
    with pytest.raises(UxError) as caught:
        parse_cancel_request(data)
    error = caught.value
    assert error.status == 400
    assert error.message == BAD_REQUEST_MESSAGE
    assert error.headers == {}
    return error


# --- the seed's examples -------------------------------------------------------------------


def test_seed_installation_example_parses() -> None:
    request = parse_cancel_request(installation())
    assert request == CancelRequest(
        reason="CR",
        end_date_time=datetime(2026, 3, 5, 12, 0, tzinfo=timezone(timedelta(hours=-4))),
        order_class="S",
        billing_account="8211990010043396",
    )
    assert request.end_date_time.utcoffset() == timedelta(hours=-4)
    assert request.end_date_time.isoformat() == "2026-03-05T12:00:00-04:00"
    assert request.end_date_time.astimezone(UTC) == datetime(2026, 3, 5, 16, 0, tzinfo=UTC)


def test_seed_technical_example_parses() -> None:
    request = parse_cancel_request(technical())
    assert request.reason == "CR"
    assert request.order_class == "T"
    assert request.billing_account is None
    assert request.end_date_time.utcoffset() == timedelta(hours=-4)
    assert request.end_date_time == datetime(
        2026, 3, 5, 12, 0, tzinfo=timezone(timedelta(hours=-4))
    )


def test_parsing_does_not_mutate_the_body() -> None:
    body = installation()
    parse_cancel_request(body)
    assert body == INSTALLATION_BODY


def test_cancel_by_customer_reason_is_accepted() -> None:
    body = technical()
    body["relatedEntity"][0]["id"] = "CA"
    assert parse_cancel_request(body).reason == "CA"


def test_technical_order_keeps_a_billing_account_when_given() -> None:
    body = installation()
    body["characteristics"][0]["value"] = "T"
    request = parse_cancel_request(body)
    assert request.order_class == "T"
    assert request.billing_account == "8211990010043396"


def test_entity_order_does_not_matter() -> None:
    body = installation()
    body["relatedEntity"].reverse()
    request = parse_cancel_request(body)
    assert (request.reason, request.billing_account) == ("CR", "8211990010043396")


def test_other_characteristics_and_entities_are_ignored() -> None:
    body = technical()
    body["characteristics"].insert(0, {"name": "priority", "value": "high"})
    body["relatedEntity"].append({"id": "X1", "role": "Technician", "@referredType": "Individual"})
    request = parse_cancel_request(body)
    assert (request.order_class, request.billing_account) == ("T", None)


def test_account_with_wrong_referred_type_is_not_an_account() -> None:
    body = installation()
    body["relatedEntity"][1]["@referredType"] = "PartyAccount"
    error = expect_invalid(body)
    assert error.description.startswith("Invalid field 'relatedEntity': ")
    assert "orderClass S" in error.description


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-05T12:00:00Z", datetime(2026, 3, 5, 12, 0, tzinfo=UTC)),
        ("2026-03-05T12:00:00z", datetime(2026, 3, 5, 12, 0, tzinfo=UTC)),
        ("2026-03-05t12:00:00Z", datetime(2026, 3, 5, 12, 0, tzinfo=UTC)),
        ("2026-03-05t12:00:00z", datetime(2026, 3, 5, 12, 0, tzinfo=UTC)),
        ("2026-03-05T12:00:00.5Z", datetime(2026, 3, 5, 12, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-05T12:00:00+00:00", datetime(2026, 3, 5, 12, 0, tzinfo=UTC)),
        (
            "2026-03-05T12:00:00+10:30",
            datetime(2026, 3, 5, 12, 0, tzinfo=timezone(timedelta(hours=10, minutes=30))),
        ),
    ],
)
def test_rfc3339_variants_are_accepted(text: str, expected: datetime) -> None:
    body = technical()
    body["validFor"]["endDateTime"] = text
    end = parse_cancel_request(body).end_date_time
    assert end == expected
    assert end.utcoffset() == expected.utcoffset()


# --- invalid bodies ------------------------------------------------------------------------


@pytest.mark.parametrize("data", [None, [], ["status"], "cancelled", 42, 1.5, True])
def test_non_object_body_is_malformed(data: object) -> None:
    assert expect_invalid(data).description == MALFORMED


def _set(path: list[str | int], value: object) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def _delete(path: list[str | int]) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


def _append_entity(entity: dict[str, Any]) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["relatedEntity"].append(copy.deepcopy(entity))

    return mutate


def _append_characteristic(value: object) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["characteristics"].append({"name": "orderClass", "value": value})

    return mutate


INVALID_CASES: list[Any] = [
    # status
    pytest.param(_delete(["status"]), "status", id="status-missing"),
    pytest.param(_set(["status"], "confirmed"), "status", id="status-confirmed"),
    pytest.param(_set(["status"], "Cancelled"), "status", id="status-capitalised"),
    pytest.param(_set(["status"], None), "status", id="status-null"),
    # relatedEntity shape
    pytest.param(_delete(["relatedEntity"]), "relatedEntity", id="entities-missing"),
    pytest.param(_set(["relatedEntity"], []), "relatedEntity", id="entities-empty"),
    pytest.param(_set(["relatedEntity"], REASON_ENTITY), "relatedEntity", id="entities-object"),
    pytest.param(_set(["relatedEntity"], "CR"), "relatedEntity", id="entities-string"),
    pytest.param(_set(["relatedEntity"], None), "relatedEntity", id="entities-null"),
    pytest.param(_set(["relatedEntity", 1], "CR"), "relatedEntity[1]", id="entity-string"),
    pytest.param(_set(["relatedEntity", 0], None), "relatedEntity[0]", id="entity-null"),
    pytest.param(_set(["relatedEntity", 1], ["x"]), "relatedEntity[1]", id="entity-list"),
    # required entity fields
    pytest.param(_delete(["relatedEntity", 0, "id"]), "relatedEntity[0].id", id="id-missing"),
    pytest.param(_set(["relatedEntity", 0, "id"], ""), "relatedEntity[0].id", id="id-empty"),
    pytest.param(_set(["relatedEntity", 0, "id"], "  "), "relatedEntity[0].id", id="id-blank"),
    pytest.param(_set(["relatedEntity", 1, "id"], 8211), "relatedEntity[1].id", id="id-number"),
    pytest.param(_delete(["relatedEntity", 0, "role"]), "relatedEntity[0].role", id="role-missing"),
    pytest.param(_set(["relatedEntity", 1, "role"], None), "relatedEntity[1].role", id="role-null"),
    pytest.param(
        _delete(["relatedEntity", 0, "@referredType"]),
        "relatedEntity[0].@referredType",
        id="referred-type-missing",
    ),
    pytest.param(
        _delete(["relatedEntity", 1, "@referredType"]),
        "relatedEntity[1].@referredType",
        id="account-referred-type-missing",
    ),
    # the cancellation reason
    pytest.param(_set(["relatedEntity", 0, "id"], "XX"), "relatedEntity[0].id", id="reason-xx"),
    pytest.param(_set(["relatedEntity", 0, "id"], "cr"), "relatedEntity[0].id", id="reason-lower"),
    pytest.param(
        _set(["relatedEntity", 0, "id"], " CR"), "relatedEntity[0].id", id="reason-padded"
    ),
    pytest.param(_append_entity(REASON_ENTITY), "relatedEntity[2].role", id="two-reasons"),
    pytest.param(
        _set(["relatedEntity", 0, "role"], "Customer Account"),
        "relatedEntity",
        id="no-reason-entity",
    ),
    pytest.param(
        _set(["relatedEntity", 0, "role"], "CancellationReason"),
        "relatedEntity",
        id="reason-role-wrong-case",
    ),
    # validFor
    pytest.param(_delete(["validFor"]), "validFor", id="valid-for-missing"),
    pytest.param(_set(["validFor"], END), "validFor", id="valid-for-string"),
    pytest.param(_set(["validFor"], [END]), "validFor", id="valid-for-list"),
    pytest.param(_set(["validFor"], None), "validFor", id="valid-for-null"),
    pytest.param(_delete(["validFor", "endDateTime"]), "validFor.endDateTime", id="end-missing"),
    pytest.param(_set(["validFor", "endDateTime"], None), "validFor.endDateTime", id="end-null"),
    pytest.param(
        _set(["validFor", "endDateTime"], 1772726400), "validFor.endDateTime", id="end-number"
    ),
    pytest.param(_set(["validFor", "endDateTime"], ""), "validFor.endDateTime", id="end-empty"),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05T12:00:00"),
        "validFor.endDateTime",
        id="end-no-offset",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05 12:00:00Z"),
        "validFor.endDateTime",
        id="end-space-separator",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05"),
        "validFor.endDateTime",
        id="end-date-only",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05T12:00Z"),
        "validFor.endDateTime",
        id="end-no-seconds",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05T12:00:00-0400"),
        "validFor.endDateTime",
        id="end-offset-no-colon",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05T12:00:00.Z"),
        "validFor.endDateTime",
        id="end-empty-fraction",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], " 2026-03-05T12:00:00Z"),
        "validFor.endDateTime",
        id="end-leading-space",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05T12:00:00Z\n"),
        "validFor.endDateTime",
        id="end-trailing-newline",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-13-05T12:00:00Z"),
        "validFor.endDateTime",
        id="end-month-13",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-02-30T12:00:00Z"),
        "validFor.endDateTime",
        id="end-february-30",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05T25:00:00Z"),
        "validFor.endDateTime",
        id="end-hour-25",
    ),
    pytest.param(
        _set(["validFor", "endDateTime"], "2026-03-05T12:00:00+24:00"),
        "validFor.endDateTime",
        id="end-offset-24h",
    ),
    # characteristics and orderClass
    pytest.param(_delete(["characteristics"]), "characteristics", id="characteristics-missing"),
    pytest.param(_set(["characteristics"], []), "characteristics", id="characteristics-empty"),
    pytest.param(
        _set(["characteristics"], {"name": "orderClass", "value": "S"}),
        "characteristics",
        id="characteristics-object",
    ),
    pytest.param(
        _set(["characteristics", 0], "S"), "characteristics[0]", id="characteristic-string"
    ),
    pytest.param(
        _set(["characteristics", 0, "name"], "priority"), "characteristics", id="no-order-class"
    ),
    pytest.param(
        _set(["characteristics", 0, "name"], "OrderClass"),
        "characteristics",
        id="order-class-name-wrong-case",
    ),
    pytest.param(_append_characteristic("S"), "characteristics", id="two-order-classes"),
    pytest.param(
        _append_characteristic("T"), "characteristics", id="two-conflicting-order-classes"
    ),
    pytest.param(
        _set(["characteristics", 0, "value"], "X"),
        "characteristics.orderClass",
        id="order-class-x",
    ),
    pytest.param(
        _set(["characteristics", 0, "value"], "s"),
        "characteristics.orderClass",
        id="order-class-lower",
    ),
    pytest.param(
        _delete(["characteristics", 0, "value"]),
        "characteristics.orderClass",
        id="order-class-no-value",
    ),
    pytest.param(
        _set(["characteristics", 0, "value"], None),
        "characteristics.orderClass",
        id="order-class-null",
    ),
    pytest.param(
        _set(["characteristics", 0, "value"], 1),
        "characteristics.orderClass",
        id="order-class-number",
    ),
    # installation without its billing account
    pytest.param(_delete(["relatedEntity", 1]), "relatedEntity", id="s-without-account"),
    pytest.param(
        _set(["relatedEntity", 1, "role"], "customer account"),
        "relatedEntity",
        id="s-account-role-wrong-case",
    ),
]


@pytest.mark.parametrize(("mutate", "field"), INVALID_CASES)
def test_invalid_body_names_the_field(mutate: Mutation, field: str) -> None:
    body = installation()
    mutate(body)
    error = expect_invalid(body)
    assert error.description.startswith(f"Invalid field '{field}': "), error.description
    assert str(error) == error.description


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (_delete(["status"]), "must be 'cancelled'"),
        (_set(["relatedEntity"], []), "is required and must be a non-empty array"),
        (_set(["relatedEntity", 0], 1), "must be an object"),
        (_delete(["relatedEntity", 0, "id"]), "is required and must be a non-empty string"),
        (
            _set(["relatedEntity", 0, "id"], "XX"),
            "must be CA (Cancel by Customer) or CR (Customer Requested)",
        ),
        (_append_entity(REASON_ENTITY), "only one 'cancellationReason' entity is allowed"),
        (
            _set(["relatedEntity", 0, "role"], "other"),
            "must hold an entity with role 'cancellationReason'",
        ),
        (_delete(["validFor"]), "is required and must be an object"),
        (
            _set(["validFor", "endDateTime"], "2026-03-05T12:00:00"),
            "must be an RFC 3339 date-time with an offset",
        ),
        (_set(["validFor", "endDateTime"], "2026-13-05T12:00:00Z"), "is not a valid date-time"),
        (_append_characteristic("T"), "must hold exactly one 'orderClass'"),
        (_set(["characteristics", 0, "value"], "X"), "must be S (installation) or T (technical)"),
        (
            _delete(["relatedEntity", 1]),
            "orderClass S needs a 'BillingAccount' entity with role 'Customer Account'",
        ),
    ],
)
def test_invalid_body_says_why(mutate: Mutation, reason: str) -> None:
    body = installation()
    mutate(body)
    assert expect_invalid(body).description.endswith(f"': {reason}")


def test_first_problem_in_document_order_is_reported() -> None:
    body = installation()
    del body["status"]
    del body["validFor"]
    body["characteristics"] = []
    assert expect_invalid(body).description.startswith("Invalid field 'status': ")


def test_entity_problems_are_reported_before_validity_period() -> None:
    body = installation()
    body["relatedEntity"][0]["id"] = "XX"
    del body["validFor"]
    assert expect_invalid(body).description.startswith("Invalid field 'relatedEntity[0].id': ")


@pytest.mark.parametrize("value", [["S"], {"code": "S"}])
def test_unhashable_order_class_value_is_a_400(value: object) -> None:
    body = installation()
    body["characteristics"][0]["value"] = value
    error = expect_invalid(body)
    assert error.description.startswith("Invalid field 'characteristics.orderClass': ")


def test_two_billing_accounts_are_refused() -> None:
    body = installation()
    body["relatedEntity"].append(dict(body["relatedEntity"][1], id="1111222233334444"))
    assert expect_invalid(body).description.startswith("Invalid field 'relatedEntity[2].role': ")
