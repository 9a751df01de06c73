"""Wire schemas of service-cancellation commands (object names as the seed writes them)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo
from pydantic.functional_validators import BeforeValidator
from pydantic_core import PydanticCustomError

from cancelgate.connect.paths import INT_MAX, INT_MIN
from cancelgate.domain.services import DATE_CODE, DATE_MESSAGE, date_is_acceptable

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
TODAY = "today"


def _cancellation_date(value: object, info: ValidationInfo) -> date | None:
    """yyyy-MM-dd, not null and not before today (the business date, from the context)."""
    if value is not None and not (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        raise PydanticCustomError("date_type", "must be a date (yyyy-MM-dd)")
    try:
        parsed = date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        raise PydanticCustomError("date_type", "must be a date (yyyy-MM-dd)") from None
    today = (info.context or {}).get(TODAY)
    if not isinstance(today, date):
        raise RuntimeError("validating a cancellation date needs today's date in the context")
    if not date_is_acceptable(parsed, today):
        raise PydanticCustomError(DATE_CODE, DATE_MESSAGE)
    return parsed


CancellationDate = Annotated[
    date | None,
    BeforeValidator(_cancellation_date),
    Field(default=None, validate_default=True, description="yyyy-MM-dd, today or later"),
]
ServiceId = Annotated[int, Field(ge=INT_MIN, le=INT_MAX, description="The id of the service")]


class ServiceCancellationRequestCommand(BaseModel):
    """Body of POST …/service-cancellations/request."""

    model_config = ConfigDict(extra="ignore")

    serviceId: ServiceId
    cancellationDate: CancellationDate


class RescheduleServiceCancellationCommand(ServiceCancellationRequestCommand):
    """Body of POST …/service-cancellations/requests/reschedule (the same fields)."""


class AbortServiceCancellationCommand(BaseModel):
    """Body of POST …/service-cancellations/requests/abort."""

    model_config = ConfigDict(extra="ignore")

    serviceId: ServiceId


REQUEST_OBJECT = "connectServiceCancellationRequestCommand"
RESCHEDULE_OBJECT = "connectRescheduleServiceCancellationRequestCommand"
ABORT_OBJECT = "connectAbortServiceCancellationRequestCommand"


class ServiceCancellationBody(BaseModel):
    """The service-cancellation resource (every field null before any request)."""

    serviceId: int
    status: str | None
    requestDate: str | None
    requestedOn: str | None
    requestedById: int | None
    requestedByName: str | None
    requestedByEmail: str | None
    errorDetail: str | None
    cancelledOn: str | None
    abortedOn: str | None
    abortedById: int | None
    abortedByName: str | None
    abortedByEmail: str | None
    canRequestCancellation: bool
    canAbortCancellation: bool
    canRescheduleCancellation: bool
    cancelled: bool


class ServiceBody(BaseModel):
    """A service with its latest cancellation (200 of GET /api/connect/services/{id})."""

    id: int
    nbnServiceId: str
    status: str
    eligibleForCancellation: bool
    cancelledOn: str | None
    serviceCancellation: ServiceCancellationBody
