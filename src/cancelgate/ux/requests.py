"""Reading the PATCH body (the seed's TMF646 subset) into a cancel request, or a 400."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cancelgate.ux.errors import UxError, bad_request

REASONS = frozenset({"CA", "CR"})
ORDER_CLASSES = frozenset({"S", "T"})
REASON_ROLE = "cancellationReason"
ACCOUNT_ROLE = "Customer Account"
ACCOUNT_TYPE = "BillingAccount"
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class CancelRequest:
    """What a valid PATCH asks for."""

    reason: str
    end_date_time: datetime
    order_class: str
    billing_account: str | None


def invalid(field: str, reason: str) -> UxError:
    """400 whose description names the offending field."""
    return bad_request(f"Invalid field '{field}': {reason}")


def _text(entity: dict[str, Any], key: str, where: str) -> str:
    value = entity.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where}.{key}", "is required and must be a non-empty string")
    return value


def _list_of_objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise invalid(key, "is required and must be a non-empty array")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid(f"{key}[{index}]", "must be an object")
    return value


def _reason_and_account(entities: list[dict[str, Any]]) -> tuple[str, str | None]:
    reason: str | None = None
    account: str | None = None
    for index, entity in enumerate(entities):
        where = f"relatedEntity[{index}]"
        entity_id = _text(entity, "id", where)
        role = _text(entity, "role", where)
        referred = _text(entity, "@referredType", where)
        if role == REASON_ROLE:
            if reason is not None:
                raise invalid(f"{where}.role", f"only one '{REASON_ROLE}' entity is allowed")
            if entity_id not in REASONS:
                raise invalid(
                    f"{where}.id", "must be CA (Cancel by Customer) or CR (Customer Requested)"
                )
            reason = entity_id
        elif role == ACCOUNT_ROLE and referred == ACCOUNT_TYPE:
            if account is not None:
                raise invalid(f"{where}.role", f"only one '{ACCOUNT_ROLE}' entity is allowed")
            account = entity_id
    if reason is None:
        raise invalid("relatedEntity", f"must hold an entity with role '{REASON_ROLE}'")
    return reason, account


def _end_date_time(data: dict[str, Any]) -> datetime:
    valid_for = data.get("validFor")
    if not isinstance(valid_for, dict):
        raise invalid("validFor", "is required and must be an object")
    value = valid_for.get("endDateTime")
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise invalid("validFor.endDateTime", "must be an RFC 3339 date-time with an offset")
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise invalid("validFor.endDateTime", "is not a valid date-time") from None


def _order_class(data: dict[str, Any]) -> str:
    characteristics = _list_of_objects(data, "characteristics")
    classes = [c.get("value") for c in characteristics if c.get("name") == "orderClass"]
    if len(classes) != 1:
        raise invalid("characteristics", "must hold exactly one 'orderClass'")
    if not isinstance(classes[0], str) or classes[0] not in ORDER_CLASSES:
        raise invalid("characteristics.orderClass", "must be S (installation) or T (technical)")
    return str(classes[0])


def parse_cancel_request(data: object) -> CancelRequest:
    """The cancel request in a decoded JSON body, or the 400 that says what is wrong."""
    if not isinstance(data, dict):
        raise bad_request()
    if data.get("status") != "cancelled":
        raise invalid("status", "must be 'cancelled'")
    reason, account = _reason_and_account(_list_of_objects(data, "relatedEntity"))
    end = _end_date_time(data)
    order_class = _order_class(data)
    if order_class == "S" and account is None:
        raise invalid(
            "relatedEntity",
            f"orderClass S needs a '{ACCOUNT_TYPE}' entity with role '{ACCOUNT_ROLE}'",
        )
    return CancelRequest(
        reason=reason, end_date_time=end, order_class=order_class, billing_account=account
    )
