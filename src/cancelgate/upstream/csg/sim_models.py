"""Simulated CSG's own records (its side of the world, kept apart from ours)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base


class SimCsgAppointment(Base):
    """An appointment as simulated CSG knows it, with the scenario it plays."""

    __tablename__ = "sim_csg_appointments"

    business_id: Mapped[str] = mapped_column(String(2), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    order_class: Mapped[str] = mapped_column(String(1))
    billing_account: Mapped[str | None] = mapped_column(String(40))
    # Cancellation calls received (including repeats), for tests.
    calls: Mapped[int] = mapped_column(Integer, default=0)
    last_correlation_id: Mapped[str | None] = mapped_column(String(200))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
