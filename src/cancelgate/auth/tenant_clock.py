"""Each tenant's business clock. Outside the sandbox every tenant shares the installation's; in
the sandbox a tenant may move its own forward (a test clock), and everything that depends on
time for that tenant follows it: "today", the point of no return, submissions, timestamps."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy import update as sql_update

from cancelgate.auth.models import Tenant
from cancelgate.clock import Clock
from cancelgate.db.database import UnitOfWork, compiled
from cancelgate.runtime import Runtime

_OFFSET = compiled(select(Tenant.clock_offset_seconds).where(Tenant.id == bindparam("tenant_id")))
_ADVANCE = compiled(
    sql_update(Tenant)
    .where(Tenant.id == bindparam("tenant_id"))
    .values(clock_offset_seconds=Tenant.clock_offset_seconds + bindparam("seconds"))
    .returning(Tenant.clock_offset_seconds)
)


# How far a test clock may run ahead of real time: far enough for any test, and far from the
# last instant a datetime can hold.
MAX_OFFSET = timedelta(days=100 * 366)


class BackInTime(ValueError):
    """A test clock moves forward only, and at most MAX_OFFSET ahead of real time."""


@dataclass(frozen=True)
class TenantClocks:
    """The installation's clock, and whether tenants have clocks of their own (the sandbox)."""

    base: Clock
    per_tenant: bool

    async def of(self, uow: UnitOfWork, tenant_id: int) -> Clock:
        """The tenant's clock: the installation's, unless the sandbox moved it (one read then)."""
        if not self.per_tenant:
            return self.base
        seconds = await uow.scalar(_OFFSET, {"tenant_id": tenant_id})
        return Clock(self.base.offset + timedelta(seconds=seconds or 0.0))

    async def advance(
        self, uow: UnitOfWork, tenant_id: int, *, to: datetime | None, seconds: float | None
    ) -> tuple[Clock, timedelta]:
        """Move the tenant's clock forward to `to` or by `seconds`, in the unit's transaction;
        the new clock and how far it moved. BackInTime for a move backwards."""
        clock = await self.of(uow, tenant_id)
        now = clock.now()
        step = (to - now).total_seconds() if to is not None else float(seconds or 0.0)
        if step < 0:
            raise BackInTime(f"The clock is at {now.isoformat()}; it moves forward only.")
        if clock.offset + timedelta(seconds=step) > MAX_OFFSET:
            raise BackInTime(f"A test clock runs at most {MAX_OFFSET.days} days ahead.")
        (row,) = await uow.returning(_ADVANCE, {"tenant_id": tenant_id, "seconds": step})
        return Clock(self.base.offset + timedelta(seconds=row[0])), timedelta(seconds=step)


def clocks_of(runtime: Runtime) -> TenantClocks:
    """The process's clocks: tenants have their own only where the sandbox is on."""
    return TenantClocks(runtime.clock, per_tenant=runtime.settings.sandbox)
