"""Test clocks: a sandbox tenant moves its own business clock forward, and what came due for it
(a service cancellation dated in two weeks) runs at once, for that tenant only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cancelgate.auth.tenant_clock import MAX_OFFSET, TenantClocks
from cancelgate.clock import Clock
from cancelgate.db.database import UnitOfWork
from cancelgate.services.scheduling import bring_forward_submissions

ADVANCE_OBJECT = "advanceClockCommand"


class ClockBody(BaseModel):
    """A tenant's clock."""

    now: str = Field(description="Now on the tenant's clock, RFC 3339 in the business time zone")
    offsetSeconds: float = Field(description="How far the tenant's clock runs ahead of real time")


class AdvanceClockCommand(BaseModel):
    """Move the clock forward: to an instant, or by a number of seconds (exactly one)."""

    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(default=None, description="RFC 3339 instant with an offset")
    # Bounded here so that the arithmetic cannot overflow; the clock's own limit is tighter.
    seconds: float | None = Field(
        default=None, description="Seconds to move forward", le=MAX_OFFSET.total_seconds()
    )

    @field_validator("to")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is not None:
            instant(value)
        return value

    @model_validator(mode="after")
    def _one_of(self) -> AdvanceClockCommand:
        if (self.to is None) == (self.seconds is None):
            raise PydanticCustomError(
                "constraints.clock.advance", "give exactly one of 'to' and 'seconds'"
            )
        return self


def instant(text: str) -> datetime:
    """An RFC 3339 instant with its offset; a validation error otherwise."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise PydanticCustomError(
            "constraints.type.mismatch", "must be an RFC 3339 date-time with an offset"
        )
    return parsed


def clock_body(clock: Clock, zone: ZoneInfo) -> dict[str, Any]:
    """The clock as the API shows it."""
    return {
        "now": clock.now().astimezone(zone).isoformat(timespec="seconds"),
        "offsetSeconds": round(clock.offset.total_seconds(), 3),
    }


async def advance(
    uow: UnitOfWork, clocks: TenantClocks, tenant_id: int, command: AdvanceClockCommand
) -> Clock:
    """Move the tenant's clock and bring its due work forward, in the unit's transaction."""
    to = instant(command.to) if command.to is not None else None
    clock, step = await clocks.advance(uow, tenant_id, to=to, seconds=command.seconds)
    if step > timedelta(0):
        await bring_forward_submissions(uow, tenant_id, step)
    return clock
