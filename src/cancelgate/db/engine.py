"""The ORM engine and sessions of seeding code and the command line (requests and jobs use
`cancelgate.db.database`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cancelgate.db.embedded import start_embedded
from cancelgate.db.urls import sqlalchemy_url
from cancelgate.settings import Settings


def resolve_database_url(settings: Settings) -> str:
    """The configured DATABASE_URL, or the URL of the embedded server (started on demand)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """An async engine on psycopg 3."""
    return create_async_engine(
        sqlalchemy_url(url), pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
