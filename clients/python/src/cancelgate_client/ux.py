"""The UX API's cancel body (TMF646 PATCH), as the seed writes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cancelgate_client.errors import ConfigurationError

REASONS = {"CA": "Cancel by Customer", "CR": "User canceled appointment"}


def cancel_body(
    reason: str, order_class: str, billing_account: str | None, end: datetime | None = None
) -> dict[str, Any]:
    """`status: cancelled` with the reason, the order class and (for S) the billing account.

    `validFor.endDateTime` is the current instant, as the seed asks, unless `end` is given.
    """
    if end is not None and end.utcoffset() is None:
        raise ConfigurationError("end_date_time needs a time zone (RFC 3339 asks for an offset)")
    moment = (end or datetime.now(UTC)).isoformat(timespec="milliseconds")
    entities: list[dict[str, Any]] = [
        {
            "@type": "RelatedEntity",
            "@referredType": "CancellationReason",
            "id": reason,
            "name": REASONS.get(reason, reason),
            "role": "cancellationReason",
        }
    ]
    if billing_account is not None:
        entities.append(
            {"id": billing_account, "role": "Customer Account", "@referredType": "BillingAccount"}
        )
    return {
        "status": "cancelled",
        "relatedEntity": entities,
        "validFor": {"endDateTime": moment},
        "characteristics": [{"name": "orderClass", "value": order_class}],
    }
