"""An index on the pending webhook deliveries, for the metrics' backlog.

`cancelgate_webhook_pending` and `cancelgate_webhook_oldest_pending_seconds` are read by every
scrape from the deliveries not yet settled (count, oldest `created_at`). Deliveries are kept
after they settle, so the table only grows; a partial index holds just the pending ones, and
the read stays as cheap as the backlog is small.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_pending_created_at",
        "webhook_deliveries",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pending_created_at", table_name="webhook_deliveries")
