"""Alembic environment: runs on the connection handed over by cancelgate.db.migrate."""

from __future__ import annotations

from alembic import context

from cancelgate.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `cancelgate migrate`")

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
