"""The lean read path of the polled status GETs: autocommit psycopg, prepared statements.

A status GET through SQLAlchemy costs three round trips (the pool's pre-ping, the query, the
rollback on return) plus the engine's execution machinery; here it costs one (profiled: the
appointment GET went from ~1,050 to ~1,800 requests/s on one core).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql import ClauseElement

from cancelgate.db.urls import libpq_url

APPLICATION_NAME = "cancelgate-reads"
_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialects are untyped


def read_query(statement: ClauseElement) -> bytes:
    """A Core select as the SQL psycopg runs, named `%(param)s` placeholders and all."""
    return str(statement.compile(dialect=_DIALECT)).encode()


class ReadPool:
    """Autocommit connections for single-statement reads; safe to retry, so never pinged."""

    def __init__(self, database_url: str, *, size: int, timeout: float = 30.0) -> None:
        self._pool = AsyncConnectionPool(
            libpq_url(database_url),
            # None until the first read: workers and the demo seeding open a runtime too.
            min_size=0,
            max_size=size,
            timeout=timeout,
            open=False,
            kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
            name=APPLICATION_NAME,
        )

    async def open(self) -> None:
        """Start the pool; connections are made on first use."""
        await self._pool.open(wait=True)

    async def close(self) -> None:
        """Release every connection."""
        await self._pool.close()

    async def one(self, query: bytes, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a read, or None. A connection the server dropped (a restart, an
        idle timeout) is noticed here instead of by a ping on every checkout: the pool is
        checked and the read runs once more."""
        try:
            return await self._one(query, params)
        except PoolTimeout:
            raise  # every connection busy for the pool's whole timeout: waiting again won't help
        except psycopg.OperationalError:
            await self._pool.check()
            return await self._one(query, params)

    async def _one(self, query: bytes, params: dict[str, Any]) -> tuple[Any, ...] | None:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(query, params, prepare=True)
            return await cursor.fetchone()
