"""Notify waiting status requests when a cancellation's status changes.

A long-polled status GET (`Prefer: wait=N`) waits without a database connection: every API
process listens on one channel, and these triggers notify it, inside the writing transaction
(so on commit), whoever the writer is: the API, a job, an operator's SQL.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Payload "<kind>:<id>"; the listener (src/cancelgate/db/listener.py) wakes the waiters of it.
FUNCTION = """
CREATE FUNCTION cancelgate_notify_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cancelgate_outcomes', TG_ARGV[0] || ':' || (to_jsonb(NEW) ->> TG_ARGV[1]));
    RETURN NULL;
END
$$
"""
TRIGGERS = {
    # The appointment-cancellation GET waits on its request's id.
    "appointment_cancellations": ("appointment-cancellation", "id"),
    # The service-cancellation GET waits on the service's id (its latest request).
    "service_cancellations": ("service", "service_id"),
}


def upgrade() -> None:
    op.execute(FUNCTION)
    for table, (kind, column) in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {table}_notify_status AFTER UPDATE OF status ON {table} "
            "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
            f"EXECUTE FUNCTION cancelgate_notify_status('{kind}', '{column}')"
        )


def downgrade() -> None:
    for table in TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_notify_status ON {table}")
    op.execute("DROP FUNCTION cancelgate_notify_status()")
