"""Wire schemas of services: the service-cancellation commands (object names as the seed
writes them), and the one definition of the service-cancellation resource and of the service
that the GETs answer, the webhook payloads carry and the OpenAPI document describes."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo
from pydantic.functional_validators import BeforeValidator
from pydantic_core import PydanticCustomError

from cancelgate.connect.formats import instant
from cancelgate.connect.paths import INT_MAX, INT_MIN
from cancelgate.domain.services import (
    DATE_CODE,
    DATE_MESSAGE,
    ServiceStatus,
    can_change,
    can_request,
    date_is_acceptable,
    is_eligible,
)
from cancelgate.services.repository import CancellationRow, ServiceRow

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


def service_cancellation_body(
    service: ServiceRow, cancellation: CancellationRow | None
) -> ServiceCancellationBody:
    """The service-cancellation resource: every field, nulls when nothing was requested."""
    c = cancellation
    status = c.status if c is not None else None
    eligible = is_eligible(service.status, service.eligible_for_cancellation)
    return ServiceCancellationBody(
        serviceId=service.id,
        status=status,
        requestDate=c.request_date.isoformat() if c is not None else None,
        requestedOn=instant(c.requested_on) if c is not None else None,
        requestedById=c.requested_by_id if c is not None else None,
        requestedByName=c.requested_by_name if c is not None else None,
        requestedByEmail=c.requested_by_email if c is not None else None,
        errorDetail=c.error_detail if c is not None else None,
        cancelledOn=instant(c.cancelled_on) if c is not None else None,
        abortedOn=instant(c.aborted_on) if c is not None else None,
        abortedById=c.aborted_by_id if c is not None else None,
        abortedByName=c.aborted_by_name if c is not None else None,
        abortedByEmail=c.aborted_by_email if c is not None else None,
        canRequestCancellation=can_request(eligible, status),
        canAbortCancellation=can_change(status),
        canRescheduleCancellation=can_change(status),
        cancelled=service.status == ServiceStatus.CANCELLED,
    )


def service_body(service: ServiceRow, cancellation: CancellationRow | None) -> ServiceBody:
    """A service with its eligibility and its latest cancellation request."""
    return ServiceBody(
        id=service.id,
        nbnServiceId=service.nbn_service_id,
        status=service.status,
        eligibleForCancellation=is_eligible(service.status, service.eligible_for_cancellation),
        cancelledOn=instant(service.cancelled_on),
        serviceCancellation=service_cancellation_body(service, cancellation),
    )
