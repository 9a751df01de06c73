"""The sandbox as a property of the installation, and a clock per tenant.

Every process of one installation reads `installation.sandbox` when it starts, so a separate
worker agrees with the API process that `serve --demo` started. `tenants.clock_offset_seconds`
shifts one tenant's business clock (sandbox test clocks); it is 0 outside the sandbox.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "installation",
        # One row: the check keeps it so.
        sa.Column("id", sa.SmallInteger(), primary_key=True),
        sa.Column("sandbox", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("id = 1", name="installation_one_row"),
    )
    op.execute("INSERT INTO installation (id) VALUES (1)")
    op.add_column(
        "tenants",
        sa.Column("clock_offset_seconds", sa.Float(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_column("tenants", "clock_offset_seconds")
    op.drop_table("installation")
