"""The event table."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, func
from sqlalchemy.dialects.postgresql import JSON, UUID
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base


class Event(Base):
    """Something that happened to a tenant's object, with the payload subscribers receive."""

    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    # None for events of the UX API, whose callers are channels rather than tenants.
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    model: Mapped[str] = mapped_column(String(60))
    subject_id: Mapped[int] = mapped_column()
    # json, not jsonb: webhook bodies keep the documented key order.
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
