"""The console's operators, their sessions and the audit log: every statement compiled once.

Each page's own statements live beside it (`*_queries.py`). The console is the
installation's: its reads span every tenant."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import BigInteger, bindparam, cast, func, insert, select, text

from cancelgate.console.models import Operator, OperatorAudit
from cancelgate.console.paging import NO_BIG_CURSOR, PAGE_SIZE, page_of
from cancelgate.db.database import Database, UnitOfWork, compiled

ANY_OPERATOR = compiled(select(select(Operator.id).where(~Operator.disabled).exists()))


@dataclass(frozen=True)
class LoginRow:
    """An operator as a login needs them."""

    id: int
    password_hash: str
    disabled: bool


OPERATOR_BY_EMAIL = compiled(
    select(Operator.id, Operator.password_hash, Operator.disabled).where(
        Operator.email == bindparam("email")
    )
)


@dataclass(frozen=True)
class SessionRow:
    """An operator as each page checks them: sessions issued at or before `valid_after_us`
    (µs since the epoch) are over."""

    id: int
    email: str
    disabled: bool
    valid_after_us: int


OPERATOR_BY_ID = compiled(
    select(
        Operator.id,
        Operator.email,
        Operator.disabled,
        func.coalesce(
            cast(func.extract("epoch", Operator.sessions_valid_after) * 1_000_000, BigInteger), 0
        ),
    ).where(Operator.id == bindparam("operator_id"))
)
END_SESSIONS = compiled(
    text(
        "UPDATE operators SET sessions_valid_after = greatest(sessions_valid_after,"
        " to_timestamp(CAST(:issued_us AS bigint) / 1000000.0)) WHERE id = :operator_id"
    )
)
INSERT_AUDIT = compiled(
    insert(OperatorAudit).values(
        operator_id=bindparam("operator_id"),
        action=bindparam("action"),
        target=bindparam("target"),
        detail=bindparam("detail"),
    )
)


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit log."""

    id: int
    at: datetime
    email: str | None
    action: str
    target: str | None
    detail: dict[str, Any] | None


AUDIT_PAGE = compiled(
    select(
        OperatorAudit.id,
        OperatorAudit.at,
        Operator.email,
        OperatorAudit.action,
        OperatorAudit.target,
        OperatorAudit.detail,
    )
    .outerjoin(Operator, Operator.id == OperatorAudit.operator_id)
    .where(OperatorAudit.id < bindparam("before"))
    .order_by(OperatorAudit.id.desc())
    .limit(PAGE_SIZE + 1)
)


async def login_row(database: Database, email: str) -> LoginRow | None:
    """The operator with this (normalised) email, or None."""
    row = await database.one(OPERATOR_BY_EMAIL, {"email": email})
    return None if row is None else LoginRow(*row)


async def session_row(database: Database, operator_id: int) -> SessionRow | None:
    """The operator a session names, or None."""
    row = await database.one(OPERATOR_BY_ID, {"operator_id": operator_id})
    return None if row is None else SessionRow(row[0], row[1], row[2], int(row[3]))


async def any_operator(database: Database) -> bool:
    """Whether an enabled operator exists."""
    row = await database.one(ANY_OPERATOR)
    return row is not None and bool(row[0])


async def end_sessions(uow: UnitOfWork, operator_id: int, issued_us: int) -> None:
    """Refuse the operator's sessions issued at or before `issued_us` (a logout)."""
    await uow.execute(END_SESSIONS, {"operator_id": operator_id, "issued_us": issued_us})


async def audit(
    uow: UnitOfWork,
    *,
    operator_id: int | None,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record what an operator did, in the unit's transaction (with what it did)."""
    await uow.execute(
        INSERT_AUDIT,
        {
            "operator_id": operator_id,
            "action": action,
            "target": target,
            # psycopg binds a dict only wrapped (the statement's JSONB type is SQLAlchemy's).
            "detail": None if detail is None else Jsonb(detail),
        },
    )


async def audit_page(database: Database, before: int | None) -> tuple[list[AuditRow], int | None]:
    """A page of the audit log, newest first, and the next page's cursor (or None)."""
    rows = await database.all(AUDIT_PAGE, {"before": NO_BIG_CURSOR if before is None else before})
    return page_of(rows, AuditRow)
