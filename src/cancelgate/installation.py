"""What holds for every process of one installation, in its database: whether the sandbox is on.

`serve --demo` (or `CANCELGATE_SANDBOX=true` on any process) turns it on before its processes
start; every API and worker process reads it when it starts, so a separate `cancelgate worker`
delivers to the loopback receivers the demo's API process accepted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, SmallInteger, bindparam, func, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base
from cancelgate.db.database import Database, compiled


class Installation(Base):
    """The installation's one row of settings that every process must agree on."""

    __tablename__ = "installation"
    __table_args__ = (CheckConstraint("id = 1", name="installation_one_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    sandbox: Mapped[bool] = mapped_column(Boolean, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


_SANDBOX = compiled(select(Installation.sandbox).where(Installation.id == 1))
_SET_SANDBOX = compiled(
    sql_update(Installation)
    .where(Installation.id == 1)
    .values(sandbox=bindparam("sandbox"), updated_at=func.now())
)


async def sandbox_on(database: Database) -> bool:
    """Whether the installation's sandbox is on."""
    row = await database.one(_SANDBOX)
    return bool(row and row[0])


async def set_sandbox(database: Database, on: bool) -> None:
    """Turn the installation's sandbox on or off (processes started afterwards follow)."""
    async with database.unit_of_work() as uow:
        await uow.execute(_SET_SANDBOX, {"sandbox": on})
