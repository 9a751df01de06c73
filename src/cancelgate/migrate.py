"""Bringing a database to the current schema (Alembic), safely from several processes at once."""

from __future__ import annotations

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from cancelgate.db.database import Database
from cancelgate.db.urls import sqlalchemy_url
from cancelgate.keys import ensure_instance_keys

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: processes that start together take turns migrating.
MIGRATION_LOCK = 7_351_902


def alembic_config() -> Config:
    """Alembic configuration pointing at our migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(database_url: str) -> None:
    """Apply every pending migration, then create this installation's keys if missing."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                connection.commit()
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    finally:
        engine.dispose()
    asyncio.run(_ensure_keys(database_url))


async def _ensure_keys(database_url: str) -> None:
    database = Database(database_url, size=1, name="cancelgate-migrate")
    await database.open()
    try:
        async with database.unit_of_work() as uow:
            await ensure_instance_keys(uow)
    finally:
        await database.close()


@lru_cache
def head_revision() -> str | None:
    """The latest migration these scripts know (read from disk once)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_current(database_url: str) -> bool:
    """True when the database is at the latest migration."""
    head = head_revision()
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return current == head
