"""Service cancellations: services, their cancellation requests, the simulated nbn's side.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 08:01:32.107889
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sim_nbn_service_cancellations",
        sa.Column("request_key", sa.String(length=100), nullable=False),
        sa.Column("nbn_service_id", sa.String(length=15), nullable=False),
        sa.Column("cancellation_date", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=True),
        sa.Column(
            "decided_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("request_key", name=op.f("pk_sim_nbn_service_cancellations")),
    )
    op.create_index(
        op.f("ix_sim_nbn_service_cancellations_nbn_service_id"),
        "sim_nbn_service_cancellations",
        ["nbn_service_id"],
        unique=False,
    )
    op.create_table(
        "sim_nbn_services",
        sa.Column("nbn_service_id", sa.String(length=15), nullable=False),
        sa.Column("scenario", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("submissions", sa.Integer(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("nbn_service_id", name=op.f("pk_sim_nbn_services")),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("nbn_service_id", sa.String(length=15), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("eligible_for_cancellation", sa.Boolean(), nullable=False),
        sa.Column("cancelled_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_services_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("nbn_service_id", name=op.f("uq_services_nbn_service_id")),
    )
    op.create_index(op.f("ix_services_tenant_id"), "services", ["tenant_id"], unique=False)
    op.create_table(
        "service_cancellations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("request_date", sa.Date(), nullable=False),
        sa.Column("requested_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_name", sa.String(length=200), nullable=True),
        sa.Column("requested_by_email", sa.String(length=320), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("cancelled_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column("aborted_on", sa.DateTime(timezone=True), nullable=True),
        sa.Column("aborted_by_id", sa.Integer(), nullable=True),
        sa.Column("aborted_by_name", sa.String(length=200), nullable=True),
        sa.Column("aborted_by_email", sa.String(length=320), nullable=True),
        sa.Column("submission", sa.Integer(), nullable=False),
        sa.Column("submit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submission_job_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.UUID(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["aborted_by_id"],
            ["api_clients.id"],
            name=op.f("fk_service_cancellations_aborted_by_id_api_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["api_clients.id"],
            name=op.f("fk_service_cancellations_requested_by_id_api_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_service_cancellations_service_id_services"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_service_cancellations_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_cancellations")),
        sa.UniqueConstraint("request_key", name=op.f("uq_service_cancellations_request_key")),
    )
    op.create_index(
        op.f("ix_service_cancellations_service_id"),
        "service_cancellations",
        ["service_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_service_cancellations_tenant_id"),
        "service_cancellations",
        ["tenant_id"],
        unique=False,
    )
    op.create_index(
        "uq_service_cancellations_open",
        "service_cancellations",
        ["service_id"],
        unique=True,
        postgresql_where=sa.text(
            "status IN ('REQUESTED', 'IN_PROGRESS', 'IN_ERROR_RETRY', 'IN_ERROR')"
        ),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_service_cancellations_open",
        table_name="service_cancellations",
        postgresql_where=sa.text(
            "status IN ('REQUESTED', 'IN_PROGRESS', 'IN_ERROR_RETRY', 'IN_ERROR')"
        ),
    )
    op.drop_index(op.f("ix_service_cancellations_tenant_id"), table_name="service_cancellations")
    op.drop_index(op.f("ix_service_cancellations_service_id"), table_name="service_cancellations")
    op.drop_table("service_cancellations")
    op.drop_index(op.f("ix_services_tenant_id"), table_name="services")
    op.drop_table("services")
    op.drop_table("sim_nbn_services")
    op.drop_index(
        op.f("ix_sim_nbn_service_cancellations_nbn_service_id"),
        table_name="sim_nbn_service_cancellations",
    )
    op.drop_table("sim_nbn_service_cancellations")
