"""The nbn over HTTP (the simulator's HTTP face, or a real gateway speaking the same API)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from cancelgate.domain.appointments import NbnCheck
from cancelgate.observability.tracing import instrument_http
from cancelgate.upstream.nbn.port import (
    CancelAccepted,
    CancelOutcome,
    CancelRefused,
    NbnUnavailable,
)

API = "/nbn/v1/appointments"
SERVICES_API = "/nbn/v1/services"


def cancel_outcome(response: httpx.Response) -> CancelOutcome:
    """The outcome a cancellation answer carries; anything unexpected is NbnUnavailable."""
    try:
        body = response.json()
        if response.status_code in (200, 201):
            return CancelAccepted(cancelled_at=datetime.fromisoformat(body["cancelledAt"]))
        if response.status_code in (404, 409, 422):
            return CancelRefused(message=str(body["message"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise NbnUnavailable(f"unexpected answer from the nbn: {response.text[:200]}") from exc
    raise NbnUnavailable(f"unexpected status from the nbn: {response.status_code}")


class NbnHttpAdapter:
    """An NbnPort over HTTP with explicit timeouts; any transport fault is NbnUnavailable."""

    def __init__(self, base_url: str, *, connect_timeout: float, read_timeout: float) -> None:
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout)
        instrument_http(self.client)  # a client span and `traceparent` while tracing is on

    async def _send(
        self, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> httpx.Response:
        try:
            response = await self.client.request(method, path, headers=headers, json=body)
        except httpx.HTTPError as exc:
            raise NbnUnavailable(f"{method} {path}: {type(exc).__name__}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise NbnUnavailable(f"{method} {path}: HTTP {response.status_code}")
        return response

    async def check_cancellable(
        self, *, nbn_appointment_id: str, at: datetime | None = None
    ) -> NbnCheck:
        """GET …/{id}/cancellability."""
        path = f"{API}/{quote(nbn_appointment_id)}/cancellability"
        response = await self._send("GET", path, {})
        if response.status_code == 404:
            return NbnCheck.INVALID_STATE
        try:
            return NbnCheck(response.json()["result"])
        except (ValueError, KeyError, TypeError) as exc:
            raise NbnUnavailable(f"unexpected answer from the nbn: {response.text[:200]}") from exc

    async def cancel(
        self, *, nbn_appointment_id: str, request_key: str, at: datetime | None = None
    ) -> CancelOutcome:
        """POST …/{id}/cancellations with the request key as Idempotency-Key."""
        path = f"{API}/{quote(nbn_appointment_id)}/cancellations"
        return cancel_outcome(await self._send("POST", path, {"Idempotency-Key": request_key}))

    async def cancel_service(
        self,
        *,
        nbn_service_id: str,
        cancellation_date: date,
        request_key: str,
        at: datetime | None = None,
    ) -> CancelOutcome:
        """POST /nbn/v1/services/{id}/cancellations with the request key as Idempotency-Key."""
        path = f"{SERVICES_API}/{quote(nbn_service_id)}/cancellations"
        body = {"cancellationDate": cancellation_date.isoformat()}
        headers = {"Idempotency-Key": request_key}
        return cancel_outcome(await self._send("POST", path, headers, body))

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
