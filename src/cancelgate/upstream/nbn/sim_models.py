"""The simulated nbn's own records (its side of the world, kept apart from ours)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Date, DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base


class SimNbnAppointment(Base):
    """An appointment as the simulated nbn knows it, with the scenario it plays."""

    __tablename__ = "sim_nbn_appointments"

    nbn_appointment_id: Mapped[str] = mapped_column(String(15), primary_key=True)
    nbn_internal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    scenario: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(40))
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SimNbnCancellation(Base):
    """One cancellation request the simulated nbn processed, by its request key."""

    __tablename__ = "sim_nbn_cancellations"

    request_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    nbn_appointment_id: Mapped[str] = mapped_column(String(15), index=True)
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(String(1000))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SimNbnService(Base):
    """A service as the simulated nbn knows it, with the scenario it plays."""

    __tablename__ = "sim_nbn_services"

    nbn_service_id: Mapped[str] = mapped_column(String(15), primary_key=True)
    scenario: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(40))
    # Submissions seen so far (the flaky scenario fails the first one).
    submissions: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SimNbnServiceCancellation(Base):
    """One service cancellation the simulated nbn processed, by its request key."""

    __tablename__ = "sim_nbn_service_cancellations"

    request_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    nbn_service_id: Mapped[str] = mapped_column(String(15), index=True)
    cancellation_date: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(String(1000))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
