"""Job attempts that did not succeed, the indexes the console's lists and timelines read, and
the clients' Idempotency-Keys on the request rows.

`job_attempt_errors` keeps what went wrong in an attempt that asked for a retry or failed
(successful attempts are timed by procrastinate's own events). The console finds the jobs of a
cancellation by `(task_name, args->>'cancellation_id')`, and pages each list newest first
within a tenant, a status, a subscription or a day: `(tenant_id, id)` and `(subscription_id,
id)` replace single-column indexes (they serve every lookup those did); `(status, id)` and
`requested_on` are new. Each keeps a list page an index range scan at any table size. Replaying
a tenant's failed deliveries since a time reads a partial index of the failed ones; the
overview's webhook failure rate over the last hour, a range of `(attempted_at)` that carries
the status code. UX cancellations are found by status, appointment id, and the correlation id
their state-change event carries.

Both request tables gain `idempotency_key`: the client's Idempotency-Key header on the request
(null without one), which the console shows after `idempotency_keys` has forgotten it (24 h).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_REQUEST_TABLES = ("appointment_cancellations", "service_cancellations")


def upgrade() -> None:
    op.create_table(
        "job_attempt_errors",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("upstream", postgresql.JSONB(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_attempt_errors")),
    )
    op.create_index("ix_job_attempt_errors_job_id", "job_attempt_errors", ["job_id"])
    op.execute(
        "CREATE INDEX ix_procrastinate_jobs_cancellation"
        " ON procrastinate_jobs (task_name, (args->>'cancellation_id'))"
    )
    for table in _REQUEST_TABLES:
        op.add_column(table, sa.Column("idempotency_key", sa.String(255), nullable=True))
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
        op.create_index(f"ix_{table}_tenant_id_id", table, ["tenant_id", "id"])
        op.create_index(f"ix_{table}_status_id", table, ["status", "id"])
        op.create_index(f"ix_{table}_requested_on", table, ["requested_on"])
    op.drop_index("ix_webhook_deliveries_subscription_id", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_subscription_id_id", "webhook_deliveries", ["subscription_id", "id"]
    )
    op.create_index("ix_webhook_deliveries_status_id", "webhook_deliveries", ["status", "id"])
    op.create_index(
        "ix_webhook_deliveries_failed_tenant_id_created_at",
        "webhook_deliveries",
        ["tenant_id", "created_at"],
        postgresql_where=sa.text("status = 'failed'"),
    )
    op.create_index("ix_ux_appointments_status_id", "ux_appointments", ["status", "id"])
    op.create_index("ix_ux_appointments_appointment_id", "ux_appointments", ["appointment_id"])
    op.execute(
        "CREATE INDEX ix_events_ux_correlation_id ON events ((payload ->> 'correlationId'))"
        " WHERE type = 'ux.appointment.state-change'"
    )
    op.create_index(
        "ix_webhook_attempts_attempted_at",
        "webhook_attempts",
        ["attempted_at"],
        postgresql_include=["status_code"],
    )


def downgrade() -> None:
    op.execute("DROP INDEX ix_events_ux_correlation_id")
    op.drop_index("ix_ux_appointments_appointment_id", table_name="ux_appointments")
    op.drop_index("ix_ux_appointments_status_id", table_name="ux_appointments")
    op.drop_index("ix_webhook_attempts_attempted_at", table_name="webhook_attempts")
    op.drop_index(
        "ix_webhook_deliveries_failed_tenant_id_created_at", table_name="webhook_deliveries"
    )
    op.drop_index("ix_webhook_deliveries_status_id", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_subscription_id_id", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_subscription_id", "webhook_deliveries", ["subscription_id"]
    )
    for table in _REQUEST_TABLES:
        op.drop_index(f"ix_{table}_requested_on", table_name=table)
        op.drop_index(f"ix_{table}_status_id", table_name=table)
        op.drop_index(f"ix_{table}_tenant_id_id", table_name=table)
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
        op.drop_column(table, "idempotency_key")
    op.execute("DROP INDEX ix_procrastinate_jobs_cancellation")
    op.drop_index("ix_job_attempt_errors_job_id", table_name="job_attempt_errors")
    op.drop_table("job_attempt_errors")
