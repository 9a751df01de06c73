"""Tables of the services context."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.connect.idempotency_key import MAX_KEY_LENGTH
from cancelgate.db.base import Base


class Service(Base):
    """An nbn service of a tenant (one AVC) that can be cancelled."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    nbn_service_id: Mapped[str] = mapped_column(String(15), unique=True)
    status: Mapped[str] = mapped_column(String(20))
    eligible_for_cancellation: Mapped[bool] = mapped_column(Boolean)
    cancelled_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ServiceCancellation(Base):
    """A request to cancel a service on a date; the truth about its progress."""

    __tablename__ = "service_cancellations"
    __table_args__ = (
        # The console pages a tenant's, a status's or a day's requests newest first (0012).
        Index("ix_service_cancellations_tenant_id_id", "tenant_id", "id"),
        Index("ix_service_cancellations_status_id", "status", "id"),
        Index("ix_service_cancellations_requested_on", "requested_on"),
        # At most one open request per service: the database settles races.
        Index(
            "uq_service_cancellations_open",
            "service_id",
            unique=True,
            postgresql_where=text(
                "status IN ('REQUESTED', 'IN_PROGRESS', 'IN_ERROR_RETRY', 'IN_ERROR')"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    request_date: Mapped[date] = mapped_column(Date)
    requested_on: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    requested_by_name: Mapped[str | None] = mapped_column(String(200))
    requested_by_email: Mapped[str | None] = mapped_column(String(320))
    error_detail: Mapped[str | None] = mapped_column(Text)
    cancelled_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    aborted_on: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    aborted_by_id: Mapped[int | None] = mapped_column(ForeignKey("api_clients.id"))
    aborted_by_name: Mapped[str | None] = mapped_column(String(200))
    aborted_by_email: Mapped[str | None] = mapped_column(String(320))
    # Each (re)scheduling bumps `submission`; a job acts only if it carries the current one.
    submission: Mapped[int] = mapped_column(Integer, default=0)
    submit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submission_job_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Sent to the nbn as the idempotency key; renewed when the date changes.
    request_key: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    # The client's Idempotency-Key on the request, if it sent one (kept after idempotency_keys
    # forgets it); a reschedule or abort keeps it.
    idempotency_key: Mapped[str | None] = mapped_column(String(MAX_KEY_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
