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
    """Appointment and service cancellation at the nbn.

    `at` is "now" on the caller's business clock (a sandbox tenant's test clock may run
    ahead): the simulator decides the point of no return and stamps its answers with it; a real
    nbn keeps its own time and the HTTP adapter ignores it.
    """

    async def check_cancellable(
        self, *, nbn_appointment_id: str, at: datetime | None = None
    ) -> NbnCheck:
        """Whether the appointment can be cancelled now (a synchronous pre-check)."""
        ...

    async def cancel(
        self, *, nbn_appointment_id: str, request_key: str, at: datetime | None = None
    ) -> CancelOutcome:
        """Cancel the appointment; the same request_key never cancels twice."""
        ...

    async def cancel_service(
        self,
        *,
        nbn_service_id: str,
        cancellation_date: date,
        request_key: str,
        at: datetime | None = None,
    ) -> CancelOutcome:
        """Cancel the service (its date has come); the same request_key never cancels twice."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
