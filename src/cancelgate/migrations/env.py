"""Alembic environment: runs on the connection handed over by cancelgate.migrate."""

from __future__ import annotations

from alembic import context

from cancelgate.tables import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `cancelgate migrate`")


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave the job queue's own objects (created from procrastinate's schema) to it."""
    return not (type_ in ("table", "index") and (name or "").startswith("procrastinate_"))


context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    compare_type=True,
    include_name=include_name,
)
with context.begin_transaction():
    context.run_migrations()
