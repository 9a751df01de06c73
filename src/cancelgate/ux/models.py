"""Tables of the UX context: channel clients and the appointments they may cancel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base


class ChannelClient(Base):
    """A sales channel calling the UX API; its secret is stored only as an HMAC."""

    __tablename__ = "channel_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(200))
    business_units: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class UxAppointment(Base):
    """A field-service appointment of one business unit, as the channel knows it (TMF646)."""

    __tablename__ = "ux_appointments"
    __table_args__ = (
        UniqueConstraint("business_id", "appointment_id"),
        # The console's search by status and by appointment id (migration 0012).
        Index("ix_ux_appointments_status_id", "status", "id"),
        Index("ix_ux_appointments_appointment_id", "appointment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    business_id: Mapped[str] = mapped_column(String(2))
    appointment_id: Mapped[str] = mapped_column(String(40))
    # TMF646: initialized, confirmed, cancelled, completed, failed
    status: Mapped[str] = mapped_column(String(20))
    order_class: Mapped[str] = mapped_column(String(1))
    billing_account: Mapped[str | None] = mapped_column(String(40))
    cancellation_reason: Mapped[str | None] = mapped_column(String(2))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
