"""The statements of the overview page."""

from __future__ import annotations

from sqlalchemy import func, select

from cancelgate.appointments.models import AppointmentCancellation
from cancelgate.db.database import Database, compiled

COUNTS_BY_STATUS = compiled(
    select(AppointmentCancellation.status, func.count())
    .group_by(AppointmentCancellation.status)
    .order_by(AppointmentCancellation.status)
)


async def counts_by_status(database: Database) -> list[tuple[str, int]]:
    """How many appointment cancellations are in each status."""
    return [(str(status), int(n)) for status, n in await database.all(COUNTS_BY_STATUS)]
