"""The table of idempotency keys: one row per (tenant, key), holding the first response."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base


class IdempotencyRecord(Base):
    """A key a tenant sent: the request it came with and, once answered, the response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # "processing" while the first request runs, then "completed" with its response.
    state: Mapped[str] = mapped_column(String(20))
    # A request still "processing" past this instant was abandoned (its process died).
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[list[Any] | None] = mapped_column(
        JSON().with_variant(JSONB(), "postgresql")
    )
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
