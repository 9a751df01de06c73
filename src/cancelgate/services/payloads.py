"""Wire shapes of services: the service-cancellation resource (seed order) and the service."""

from __future__ import annotations

from typing import Any

from cancelgate.connect.formats import instant
from cancelgate.domain.services import ServiceStatus, can_change, can_request, is_eligible
from cancelgate.services.models import Service, ServiceCancellation
from cancelgate.services.repository import CancellationRow, ServiceRow

# The wire shapes are built from ORM rows (events) and from the GETs' plain reads alike.
AnyService = Service | ServiceRow
AnyCancellation = ServiceCancellation | CancellationRow


def cancellation_resource(
    service: AnyService, cancellation: AnyCancellation | None
) -> dict[str, Any]:
    """The service-cancellation resource: every field, nulls when nothing was requested."""
    c = cancellation
    status = c.status if c is not None else None
    eligible = is_eligible(service.status, service.eligible_for_cancellation)
    return {
        "serviceId": service.id,
        "status": status,
        "requestDate": c.request_date.isoformat() if c is not None else None,
        "requestedOn": instant(c.requested_on) if c is not None else None,
        "requestedById": c.requested_by_id if c is not None else None,
        "requestedByName": c.requested_by_name if c is not None else None,
        "requestedByEmail": c.requested_by_email if c is not None else None,
        "errorDetail": c.error_detail if c is not None else None,
        "cancelledOn": instant(c.cancelled_on) if c is not None else None,
        "abortedOn": instant(c.aborted_on) if c is not None else None,
        "abortedById": c.aborted_by_id if c is not None else None,
        "abortedByName": c.aborted_by_name if c is not None else None,
        "abortedByEmail": c.aborted_by_email if c is not None else None,
        "canRequestCancellation": can_request(eligible, status),
        "canAbortCancellation": can_change(status),
        "canRescheduleCancellation": can_change(status),
        "cancelled": service.status == ServiceStatus.CANCELLED,
    }


def service_resource(service: AnyService, cancellation: AnyCancellation | None) -> dict[str, Any]:
    """A service with its eligibility and its latest cancellation request."""
    return {
        "id": service.id,
        "nbnServiceId": service.nbn_service_id,
        "status": service.status,
        "eligibleForCancellation": is_eligible(service.status, service.eligible_for_cancellation),
        "cancelledOn": instant(service.cancelled_on),
        "serviceCancellation": cancellation_resource(service, cancellation),
    }
