"""What cancelgate needs from the nbn, whatever implements it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from cancelgate.domain.appointments import NbnCheck


@dataclass(frozen=True)
class CancelAccepted:
    """The nbn cancelled the appointment at this instant."""

    cancelled_at: datetime


@dataclass(frozen=True)
class CancelRefused:
    """The nbn refused the cancellation while processing it, with its message."""

    message: str


CancelOutcome = CancelAccepted | CancelRefused


class NbnUnavailable(Exception):
    """The nbn could not be reached, timed out, or failed: worth retrying."""


class NbnPort(Protocol):
    """Appointment and service cancellation at the nbn."""

    async def check_cancellable(self, *, nbn_appointment_id: str) -> NbnCheck:
        """Whether the appointment can be cancelled now (a synchronous pre-check)."""
        ...

    async def cancel(self, *, nbn_appointment_id: str, request_key: str) -> CancelOutcome:
        """Cancel the appointment; the same request_key never cancels twice."""
        ...

    async def cancel_service(
        self, *, nbn_service_id: str, cancellation_date: date, request_key: str
    ) -> CancelOutcome:
        """Cancel the service (its date has come); the same request_key never cancels twice."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
