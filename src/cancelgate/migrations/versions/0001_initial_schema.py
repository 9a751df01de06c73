"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-21 07:39:58.007029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from procrastinate.schema import SchemaManager
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The job queue's own schema (procrastinate's tables, functions and triggers), run as
    # one script through the driver: it holds ':' and '%' that SQLAlchemy would misread.
    driver = op.get_bind().connection.dbapi_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        cursor.execute(SchemaManager.get_schema())
    finally:
        cursor.close()
    op.create_table(
        "instance_keys",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_keys")),
    )
    op.create_table(
        "sim_nbn_appointments",
        sa.Column("nbn_appointment_id", sa.String(length=15), nullable=False),
        sa.Column("nbn_internal_id", sa.UUID(), nullable=False),
        sa.Column("scenario", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nbn_appointment_id", name=op.f("pk_sim_nbn_appointments")),
    )
    op.create_table(
        "sim_nbn_cancellations",
        sa.Column("request_key", sa.String(length=100), nullable=False),
        sa.Column("nbn_appointment_id", sa.String(length=15), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=True),
        sa.Column(
            "decided_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("request_key", name=op.f("pk_sim_nbn_cancellations")),
    )
    op.create_index(
        op.f("ix_sim_nbn_cancellations_nbn_appointment_id"),
        "sim_nbn_cancellations",
        ["nbn_appointment_id"],
        unique=False,
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "used_client_assertions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_used_client_assertions")),
        sa.UniqueConstraint("client_id", "jti", name=op.f("uq_used_client_assertions_client_id")),
    )
    op.create_index(
        op.f("ix_used_client_assertions_expires_at"),
        "used_client_assertions",
        ["expires_at"],
        unique=False,
    )
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=True),
        sa.Column(
            "jwks",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default="true", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_clients_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_api_clients_client_id")),
    )
    op.create_index(op.f("ix_api_clients_tenant_id"), "api_clients", ["tenant_id"], unique=False)
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("nbn_appointment_id", sa.String(length=15), nullable=False),
        sa.Column("nbn_internal_appointment_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("slot_type", sa.String(length=2), nullable=False),
        sa.Column("timezone_offset", sa.String(length=6), nullable=False),
        sa.Column("priority_assist", sa.Boolean(), nullable=False),
        sa.Column("e_sla", sa.String(length=40), nullable=False),
        sa.Column("demand_type", sa.String(length=80), nullable=False),
        sa.Column("contact", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("customer_ref", sa.String(length=100), nullable=True),
        sa.Column("cancelled_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_appointments_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint("nbn_appointment_id", name=op.f("uq_appointments_nbn_appointment_id")),
        sa.UniqueConstraint(
            "nbn_internal_appointment_id", name=op.f("uq_appointments_nbn_internal_appointment_id")
        ),
    )
    op.create_index(op.f("ix_appointments_tenant_id"), "appointments", ["tenant_id"], unique=False)
    op.create_table(
        "events",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=60), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_events_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_tenant_id"), "events", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_events_type"), "events", ["type"], unique=False)
    op.create_table(
        "appointment_cancellations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("request_key", sa.UUID(), nullable=False),
        sa.Column("requested_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_appointment_cancellations_appointment_id_appointments"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_appointment_cancellations_client_id_api_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_appointment_cancellations_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointment_cancellations")),
        sa.UniqueConstraint("request_key", name=op.f("uq_appointment_cancellations_request_key")),
    )
    op.create_index(
        op.f("ix_appointment_cancellations_appointment_id"),
        "appointment_cancellations",
        ["appointment_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_appointment_cancellations_tenant_id"),
        "appointment_cancellations",
        ["tenant_id"],
        unique=False,
    )
    op.create_index(
        "uq_appointment_cancellations_in_progress",
        "appointment_cancellations",
        ["appointment_id"],
        unique=True,
        postgresql_where=sa.text("status = 'IN_PROGRESS'"),
    )


def downgrade() -> None:
    # Nothing precedes the initial schema: drop the database to start over.
    raise NotImplementedError("cannot downgrade past the initial schema")
