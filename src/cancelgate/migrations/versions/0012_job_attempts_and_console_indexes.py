"""Job attempts that did not succeed, and the indexes the console's lists and timelines read.

`job_attempt_errors` keeps what went wrong in an attempt that asked for a retry or failed
(successful attempts are timed by procrastinate's own events). The console finds the jobs of a
cancellation by `(task_name, args->>'cancellation_id')`, and pages each list newest first
within a tenant or a status: `(tenant_id, id)` replaces the single-column tenant index (it
serves every lookup that one did), `(status, id)` is new. Each keeps a list page an index range
scan at any table size.

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
        op.drop_index(f"ix_{table}_tenant_id", table_name=table)
        op.create_index(f"ix_{table}_tenant_id_id", table, ["tenant_id", "id"])
        op.create_index(f"ix_{table}_status_id", table, ["status", "id"])


def downgrade() -> None:
    for table in _REQUEST_TABLES:
        op.drop_index(f"ix_{table}_status_id", table_name=table)
        op.drop_index(f"ix_{table}_tenant_id_id", table_name=table)
        op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
    op.execute("DROP INDEX ix_procrastinate_jobs_cancellation")
    op.drop_index("ix_job_attempt_errors_job_id", table_name="job_attempt_errors")
    op.drop_table("job_attempt_errors")
