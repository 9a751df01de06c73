"""CSG over HTTP (the simulator's HTTP face, or a gateway speaking the same API)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

import httpx

from cancelgate.observability.tracing import instrument_http
from cancelgate.upstream.csg.port import (
    CsgCancellation,
    CsgCancelled,
    CsgOutcome,
    CsgRefused,
    CsgUnavailable,
)

API = "/csg/v1/business-units"


def cancellation_path(business_id: str, appointment_id: str) -> str:
    """The URL path of an appointment's cancellation in CSG."""
    return (
        f"{API}/{quote(business_id, safe='')}/appointments/{quote(appointment_id, safe='')}/cancel"
    )


class CsgHttpAdapter:
    """A CsgPort over HTTP with explicit timeouts; any transport fault is CsgUnavailable."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float) -> None:
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        instrument_http(self.client)  # a client span and `traceparent` while tracing is on

    async def cancel_appointment(self, cancellation: CsgCancellation) -> CsgOutcome:
        """POST …/{businessId}/appointments/{id}/cancel, passing the correlation id on."""
        path = cancellation_path(cancellation.business_id, cancellation.appointment_id)
        body = {
            "orderClass": cancellation.order_class,
            "billingAccount": cancellation.billing_account,
            "reason": cancellation.reason,
        }
        headers = {"X-Correlation-ID": cancellation.correlation_id}
        try:
            response = await self.client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise CsgUnavailable(f"POST {path}: {type(exc).__name__}") from exc
        try:
            answer = response.json()
            if response.status_code == 200:
                return CsgCancelled(cancelled_at=datetime.fromisoformat(answer["cancelledAt"]))
            if response.status_code in (404, 409, 422):
                return CsgRefused(reason=str(answer["message"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CsgUnavailable(f"unexpected answer from CSG: {response.text[:200]}") from exc
        raise CsgUnavailable(f"unexpected status from CSG: {response.status_code}")

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
