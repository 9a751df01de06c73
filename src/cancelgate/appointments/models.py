"""Tables of the appointments context."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.connect.idempotency_key import MAX_KEY_LENGTH
from cancelgate.db.base import Base


class Appointment(Base):
    """An nbn appointment booked by a tenant for one of its orders."""

    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    order_id: Mapped[int] = mapped_column(Integer)
    service_id: Mapped[int | None] = mapped_column(Integer)
    nbn_appointment_id: Mapped[str] = mapped_column(String(15), unique=True)
    nbn_internal_appointment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    status: Mapped[str] = mapped_column(String(40))
    start_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    slot_type: Mapped[str] = mapped_column(String(2))
    timezone_offset: Mapped[str] = mapped_column(String(6))
    priority_assist: Mapped[bool] = mapped_column(Boolean, default=False)
    e_sla: Mapped[str] = mapped_column(String(40))
    demand_type: Mapped[str] = mapped_column(String(80))
    contact: Mapped[dict[str, Any]] = mapped_column(JSONB)
    customer_ref: Mapped[str | None] = mapped_column(String(100))
    cancelled_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AppointmentCancellation(Base):
    """A request to cancel an appointment; the truth about its progress."""

    __tablename__ = "appointment_cancellations"
    __table_args__ = (
        # The console pages a tenant's, a status's or a day's requests newest first (0012).
        Index("ix_appointment_cancellations_tenant_id_id", "tenant_id", "id"),
        Index("ix_appointment_cancellations_status_id", "status", "id"),
        Index("ix_appointment_cancellations_requested_on", "requested_on"),
        # At most one cancellation in flight per appointment: the database settles races.
        Index(
            "uq_appointment_cancellations_in_progress",
            "appointment_id",
            unique=True,
            postgresql_where=text("status = 'IN_PROGRESS'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointments.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    status: Mapped[str] = mapped_column(String(20))
    request_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    # The client's Idempotency-Key, if it sent one: kept after idempotency_keys forgets it.
    idempotency_key: Mapped[str | None] = mapped_column(String(MAX_KEY_LENGTH))
    requested_on: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancelled_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
