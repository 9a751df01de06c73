"""The process's connections to PostgreSQL and the unit of work that requests and jobs own.

Statements are SQLAlchemy Core, compiled once to the SQL psycopg runs and executed prepared on
autocommit connections: one round trip a statement. A unit of work holds one connection; its
statements run on their own until `begin()`, and from then on in one transaction that only
whoever opened the unit ends: the request's dependency or the job's wrapper. Profiled: an ORM
session cost ~850 µs for a one-row read on this machine where this path costs ~130 µs.
"""

from __future__ import annotations

import dataclasses
import enum
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from cancelgate.db.urls import libpq_url

Row = tuple[Any, ...]
Params = dict[str, Any]
_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]  # SQLAlchemy's dialects are untyped


@dataclass(frozen=True)
class Query:
    """A statement compiled once: its SQL with `%(name)s` placeholders, and the values of the
    parameters the statement itself fixed (constants written into it)."""

    sql: bytes
    fixed: Params

    def bind(self, params: Params | None) -> Params:
        """Every parameter the SQL names: the fixed ones and the caller's."""
        return {**self.fixed, **params} if params else self.fixed


def compiled(statement: ClauseElement) -> Query:
    """A Core statement as the SQL psycopg runs, compiled once."""
    done = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
    fixed: Params = {}
    for bind, name in done.bind_names.items():
        if not bind.required:  # a value written into the statement, not a `bindparam(name)`
            value = bind.effective_value
            fixed[name] = value.value if isinstance(value, enum.Enum) else value
    return Query(str(done).encode(), fixed)


def fields_of(model: type[Any], row: type[Any]) -> tuple[Any, ...]:
    """The model's columns named as the row dataclass's fields, in their order: a selected row
    then builds the dataclass by position."""
    return tuple(getattr(model, field.name) for field in dataclasses.fields(row))


class UnitOfWork:
    """What one request or job does in the database. Until `begin()` each statement runs on its
    own on a connection borrowed for it alone (so a unit that waits, or calls an upstream,
    holds none); from `begin()` on, statements share one connection and one transaction that
    only the unit's owner ends. Services and repositories receive it; they never commit.

    Statements outside a transaction must be reads: one that finds its connection dropped (a
    server restart, an idle timeout) is run once more on a checked connection.
    """

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._connection: AsyncConnection | None = None
        # BEGIN is sent with the transaction's first statement, in one round trip.
        self._begin_pending = False

    @property
    def in_transaction(self) -> bool:
        """Whether `begin()` has been called and the unit has not ended."""
        return self._connection is not None

    async def begin(self) -> None:
        """Start the unit's transaction: every statement from here on commits or rolls back with
        the unit. Idempotent; costs no round trip of its own."""
        if self._connection is None:
            self._connection = await self._pool.getconn()
            self._begin_pending = True

    async def connection(self) -> AsyncConnection:
        """The connection in its transaction, for libraries that execute on it themselves
        (deferring a job); begins the transaction if needed."""
        await self.begin()
        if self._begin_pending:
            await self._first_in_transaction(None, None)
        assert self._connection is not None
        return self._connection

    async def one(self, query: Query, params: Params | None = None) -> Row | None:
        """The first row of a read (in the transaction once begun), or None."""
        rows = await self._run(query, params, everything=False)
        return rows[0] if rows else None

    async def all(self, query: Query, params: Params | None = None) -> list[Row]:
        """Every row of a read (in the transaction once begun)."""
        return await self._run(query, params, everything=True)

    async def scalar(self, query: Query, params: Params | None = None) -> Any:
        """The first column of the first row, or None."""
        row = await self.one(query, params)
        return None if row is None else row[0]

    async def execute(self, query: Query, params: Params | None = None) -> int:
        """Write in the unit's transaction (begun if needed); how many rows changed."""
        await self.begin()
        cursor = await self._in_transaction(query, params)
        return cursor.rowcount

    async def returning(self, query: Query, params: Params | None = None) -> list[Row]:
        """Write in the unit's transaction (begun if needed); the rows it returned."""
        await self.begin()
        return await self.all(query, params)

    async def write_alone(self, query: Query, params: Params | None = None) -> list[Row]:
        """One write that stands alone, outside the unit's transaction (one statement is atomic
        on its own, and one round trip); the rows it returned. Never retried: it may have
        happened."""
        if self._connection is not None:
            raise RuntimeError("write_alone inside the unit's transaction")
        async with self._pool.connection() as connection:
            return await _fetch(connection, query, params, everything=True)

    async def _in_transaction(
        self, query: Query, params: Params | None
    ) -> psycopg.AsyncCursor[Row]:
        assert self._connection is not None
        if self._begin_pending:
            cursor = await self._first_in_transaction(query, params)
            assert cursor is not None
            return cursor
        return await self._connection.execute(query.sql, query.bind(params), prepare=True)

    async def _first_in_transaction(
        self, query: Query | None, params: Params | None
    ) -> psycopg.AsyncCursor[Row] | None:
        """BEGIN and the transaction's first statement, pipelined: one round trip. A connection
        found dropped is replaced once: nothing has happened on it yet."""
        self._begin_pending = False  # sent now: from here on the unit ends it
        try:
            cursor = await _begin_with(self._connection, query, params)
        except psycopg.OperationalError:
            broken, self._connection = self._connection, None
            assert broken is not None
            await broken.close()
            await self._pool.putconn(broken)
            await self._pool.check()
            self._connection = await self._pool.getconn()
            cursor = await _begin_with(self._connection, query, params)
        return cursor

    async def _run(self, query: Query, params: Params | None, *, everything: bool) -> list[Row]:
        if self._connection is not None:
            return await _rows(await self._in_transaction(query, params), everything)
        try:
            async with self._pool.connection() as connection:
                return await _fetch(connection, query, params, everything)
        except PoolTimeout:
            raise  # every connection busy for the pool's whole timeout: waiting again won't help
        except psycopg.OperationalError:
            await self._pool.check()
        async with self._pool.connection() as connection:
            return await _fetch(connection, query, params, everything)

    async def end(self, *, commit: bool) -> None:
        """Commit (or roll back) the transaction, if one was begun, and give back its connection."""
        connection, self._connection = self._connection, None
        begun, self._begin_pending = not self._begin_pending, False
        if connection is None:
            return
        try:
            if begun and not connection.closed:
                await connection.execute(b"COMMIT" if commit else b"ROLLBACK")
        finally:
            await self._pool.putconn(connection)


async def _fetch(
    connection: AsyncConnection, query: Query, params: Params | None, everything: bool
) -> list[Row]:
    cursor = await connection.execute(query.sql, query.bind(params), prepare=True)
    return await _rows(cursor, everything)


async def _rows(cursor: psycopg.AsyncCursor[Row], everything: bool) -> list[Row]:
    if cursor.description is None:
        return []
    if everything:
        return await cursor.fetchall()
    row = await cursor.fetchone()
    return [] if row is None else [row]


async def _begin_with(
    connection: AsyncConnection | None, query: Query | None, params: Params | None
) -> psycopg.AsyncCursor[Row] | None:
    """BEGIN, then the statement if any, in one pipeline (one round trip)."""
    assert connection is not None
    if query is None:
        await connection.execute(b"BEGIN")
        return None
    async with connection.pipeline():
        await connection.execute(b"BEGIN")
        cursor = await connection.execute(query.sql, query.bind(params), prepare=True)
    return cursor


async def _autocommit(connection: AsyncConnection) -> None:
    await connection.set_autocommit(True)


# A connection handed out this recently is trusted on its next checkout; one idle longer is
# pinged first (a server restart or an idle timeout drops idle connections). Under load each
# connection is handed out again within milliseconds, so the hot path pays no ping (profiled:
# a ping on every checkout was a third of a status GET's round trips).
TRUST_SECONDS = 5.0


class _IdleCheck:
    """When each pooled connection was last handed out, to ping only those idle a while."""

    def __init__(self) -> None:
        self._used: weakref.WeakKeyDictionary[AsyncConnection, float] = weakref.WeakKeyDictionary()

    async def check(self, connection: AsyncConnection) -> None:
        """The pool's `check` hook: ping a connection unused for longer than TRUST_SECONDS."""
        now = time.monotonic()
        used = self._used.get(connection)
        if used is None or now - used > TRUST_SECONDS:
            await AsyncConnectionPool.check_connection(connection)
        self._used[connection] = now


class Database:
    """A pool of autocommit connections to one database; units of work borrow one each."""

    def __init__(self, database_url: str, *, size: int, name: str, timeout: float = 30.0) -> None:
        self.pool = AsyncConnectionPool(
            libpq_url(database_url),
            # Connections are made on first use: not every process uses every pool.
            min_size=0,
            max_size=size,
            timeout=timeout,
            open=False,
            kwargs={"application_name": name},
            # Not in `kwargs`: procrastinate opens its listening connection with those and its
            # own `autocommit=True`.
            configure=_autocommit,
            check=_IdleCheck().check,
            name=name,
        )

    async def open(self) -> None:
        """Start the pool."""
        await self.pool.open(wait=True)

    async def close(self) -> None:
        """Release every connection."""
        await self.pool.close()

    @asynccontextmanager
    async def unit_of_work(
        self, *, commit_on: tuple[type[BaseException], ...] = ()
    ) -> AsyncIterator[UnitOfWork]:
        """A unit that commits when the block ends normally, or raises one of `commit_on` (a
        job that recorded its attempt and asks to be retried), and rolls back otherwise."""
        unit = UnitOfWork(self.pool)
        try:
            yield unit
        except commit_on:
            await unit.end(commit=True)
            raise
        except BaseException:
            await unit.end(commit=False)
            raise
        await unit.end(commit=True)

    async def one(self, query: Query, params: Params | None = None) -> Row | None:
        """One row of a single read on its own (autocommit, retried once if dropped)."""
        async with self.unit_of_work() as unit:
            return await unit.one(query, params)

    async def all(self, query: Query, params: Params | None = None) -> list[Row]:
        """Every row of a single read on its own."""
        async with self.unit_of_work() as unit:
            return await unit.all(query, params)


__all__ = ["Database", "PoolTimeout", "Query", "Row", "UnitOfWork", "compiled", "fields_of"]
