"""The events feed and stream: an order for each tenant's events, and a notification per event.

`seq` numbers events as they are inserted (an identity). Insertion order is not commit order,
though: a transaction that took seq 10 may commit after one that took seq 11, and a reader
that had moved past 11 would never see 10. So each event also records the transaction that
wrote it (`txid`, from `pg_current_xact_id()`), and readers order by (txid, seq) and show
only events whose transaction is older than every transaction still running
(`pg_snapshot_xmin`): whatever commits later sorts after all they showed. Existing events
(their writers long finished) get txid 0 and seq in the order they occurred.

A trigger notifies `cancelgate_events` with "<tenant_id>:<seq>" for every event of a tenant,
in the writing transaction (so on commit), whoever writes: the API, a worker, an operator.
The API processes' listener (src/cancelgate/db/listener.py) wakes that tenant's streams.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The writing transaction's id as a bigint (xid8 has no cast to it; its text is its number).
CURRENT_TXID = "(pg_current_xact_id()::text)::bigint"

FUNCTION = """
CREATE FUNCTION cancelgate_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cancelgate_events', NEW.tenant_id || ':' || NEW.seq);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    # A constant default fills existing rows without rewriting the table; new rows get theirs.
    op.execute("ALTER TABLE events ADD COLUMN txid bigint NOT NULL DEFAULT 0")
    op.execute(f"ALTER TABLE events ALTER COLUMN txid SET DEFAULT {CURRENT_TXID}")
    op.execute("ALTER TABLE events ADD COLUMN seq bigint")
    op.execute(
        "UPDATE events SET seq = numbered.n FROM ("
        "SELECT id, row_number() OVER (ORDER BY occurred_at, id) AS n FROM events"
        ") AS numbered WHERE events.id = numbered.id"
    )
    op.execute("ALTER TABLE events ALTER COLUMN seq SET NOT NULL")
    op.execute("ALTER TABLE events ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY")
    # The identity continues after the backfilled numbers.
    op.execute(
        "SELECT setval(pg_get_serial_sequence('events', 'seq'), "
        "(SELECT coalesce(max(seq), 0) + 1 FROM events), false)"
    )
    op.create_index("ix_events_tenant_id_txid_seq", "events", ["tenant_id", "txid", "seq"])
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events "
        "FOR EACH ROW WHEN (NEW.tenant_id IS NOT NULL) "
        "EXECUTE FUNCTION cancelgate_notify_event()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER events_notify ON events")
    op.execute("DROP FUNCTION cancelgate_notify_event()")
    op.drop_index("ix_events_tenant_id_txid_seq", table_name="events")
    op.execute("ALTER TABLE events DROP COLUMN seq")
    op.execute("ALTER TABLE events DROP COLUMN txid")
