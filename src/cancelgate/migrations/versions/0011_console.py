"""The operator console: operators, their audit log, and the indexes its detail page reads.

Operators sign in to /console with an email and a password (Argon2id hash). Every action they
take is a row of `operator_audit`; a failed login is one too, without an operator. Failed
logins are slowed by the rate limiter's failure waits (as failed token authentications are),
so no table holds them. `events(model, subject_id)` and `webhook_deliveries(event_id)` let a
cancellation's timeline find its events and their deliveries whatever the tables' size.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("sessions_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("email", name=op.f("uq_operators_email")),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_operators_email_lowercase")),
    )
    op.create_table(
        "operator_audit",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("operator_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_audit")),
        sa.ForeignKeyConstraint(
            ["operator_id"],
            ["operators.id"],
            name=op.f("fk_operator_audit_operator_id_operators"),
        ),
    )
    op.create_index(
        op.f("ix_operator_audit_operator_id"), "operator_audit", ["operator_id"], unique=False
    )
    op.create_index("ix_events_model_subject_id", "events", ["model", "subject_id"])
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_event_id", table_name="webhook_deliveries")
    op.drop_index("ix_events_model_subject_id", table_name="events")
    op.drop_index(op.f("ix_operator_audit_operator_id"), table_name="operator_audit")
    op.drop_table("operator_audit")
    op.drop_table("operators")
