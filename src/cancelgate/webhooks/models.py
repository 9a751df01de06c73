"""Tables of the webhooks context: events, subscriptions, deliveries and their attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, UUID
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base


class Event(Base):
    """Something that happened to a tenant's object, with the payload subscribers receive."""

    __tablename__ = "events"
    # The feed reads a tenant's events in (txid, seq) order.
    __table_args__ = (
        Index("ix_events_tenant_id_txid_seq", "tenant_id", "txid", "seq"),
        # The console's timeline of one object (migration 0011).
        Index("ix_events_model_subject_id", "model", "subject_id"),
        # The console's search of UX cancellations by correlation id (migration 0012).
        Index(
            "ix_events_ux_correlation_id",
            text("(payload ->> 'correlationId')"),
            postgresql_where=text("type = 'ux.appointment.state-change'"),
        ),
    )

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
    # Numbered as inserted, by the database (migration 0008): ties within a transaction.
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True))
    # The writing transaction, by the database: the feed shows an event only once every
    # transaction older than it has ended, so events that commit later always sort later.
    txid: Mapped[int] = mapped_column(
        BigInteger, server_default=text("(pg_current_xact_id()::text)::bigint")
    )


class WebhookSubscription(Base):
    """A tenant's callback URL for some event types; its secrets are sealed, never plain."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    description: Mapped[str | None] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    secret_sealed: Mapped[str] = mapped_column(Text)
    # After a rotation the old secret keeps signing (alongside the new one) until this instant.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Start of the current run of failed deliveries (None while deliveries succeed).
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookDelivery(Base):
    """One event to one subscription: at least once, with a stable webhook-id (the event id)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        # The backlog the metrics read (count and oldest of the pending ones), whatever the
        # table's size (migration 0010).
        Index(
            "ix_webhook_deliveries_pending_created_at",
            "created_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # An event's deliveries, for the console's timeline (migration 0011).
        Index("ix_webhook_deliveries_event_id", "event_id"),
        # The console's lists by subscription and by status, and its replay of a tenant's
        # failed deliveries since a time (migration 0012).
        Index("ix_webhook_deliveries_subscription_id_id", "subscription_id", "id"),
        Index("ix_webhook_deliveries_status_id", "status", "id"),
        Index(
            "ix_webhook_deliveries_failed_tenant_id_created_at",
            "tenant_id",
            "created_at",
            postgresql_where=text("status = 'failed'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("events.id"))
    # pending, succeeded, failed (gave up), cancelled (subscription disabled or deleted)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery, as its owner sees it in the delivery log."""

    __tablename__ = "webhook_attempts"
    # The overview's failure rate over the last hour: a range scan that reads no row
    # (migration 0012).
    __table_args__ = (
        Index(
            "ix_webhook_attempts_attempted_at", "attempted_at", postgresql_include=["status_code"]
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status_code: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
