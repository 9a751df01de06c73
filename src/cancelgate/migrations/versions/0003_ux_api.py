"""UX API: channel clients, UX appointments, simulated CSG; events without a tenant.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 08:10:03.676312
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channel_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("business_units", postgresql.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_channel_clients_client_id")),
    )
    op.create_table(
        "sim_csg_appointments",
        sa.Column("business_id", sa.String(length=2), nullable=False),
        sa.Column("appointment_id", sa.String(length=40), nullable=False),
        sa.Column("scenario", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("order_class", sa.String(length=1), nullable=False),
        sa.Column("billing_account", sa.String(length=40), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("last_correlation_id", sa.String(length=200), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "business_id", "appointment_id", name=op.f("pk_sim_csg_appointments")
        ),
    )
    op.create_table(
        "ux_appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.String(length=2), nullable=False),
        sa.Column("appointment_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("order_class", sa.String(length=1), nullable=False),
        sa.Column("billing_account", sa.String(length=40), nullable=True),
        sa.Column("cancellation_reason", sa.String(length=2), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ux_appointments")),
        sa.UniqueConstraint(
            "business_id", "appointment_id", name=op.f("uq_ux_appointments_business_id")
        ),
    )
    op.alter_column("events", "tenant_id", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    op.alter_column("events", "tenant_id", existing_type=sa.INTEGER(), nullable=False)
    op.drop_table("ux_appointments")
    op.drop_table("sim_csg_appointments")
    op.drop_table("channel_clients")
