"""What cancelgate needs from CSG, whatever implements it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class CsgCancellation:
    """One appointment cancellation as sent to CSG."""

    business_id: str
    appointment_id: str
    order_class: str
    billing_account: str | None
    reason: str
    correlation_id: str


@dataclass(frozen=True)
class CsgCancelled:
    """CSG cancelled the appointment (now or earlier) at this instant."""

    cancelled_at: datetime


@dataclass(frozen=True)
class CsgRefused:
    """CSG refused to cancel the appointment, with its reason."""

    reason: str


CsgOutcome = CsgCancelled | CsgRefused


class CsgUnavailable(Exception):
    """CSG could not be reached, timed out, or failed."""


class CsgPort(Protocol):
    """Appointment cancellation in CSG (synchronous)."""

    async def cancel_appointment(self, cancellation: CsgCancellation) -> CsgOutcome:
        """Cancel the appointment; cancelling one already cancelled succeeds again."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
