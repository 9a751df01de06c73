"""Creating operators (the command line's `cancelgate operators create`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.console.models import Operator
from cancelgate.console.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    new_password,
)


@dataclass(frozen=True)
class CreatedOperator:
    """What `operators create` prints once: the email and the password (generated or given)."""

    email: str
    password: str


def normal_email(email: str) -> str:
    """An email as stored and looked up: trimmed, lowercased."""
    return email.strip().lower()


async def create_operator(
    session: AsyncSession, *, email: str, password: str | None
) -> CreatedOperator:
    """Add an operator; a password is generated unless one is given. ValueError: a bad email or
    password, or an operator with this email already."""
    email = normal_email(email)
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise ValueError(f"not an email: {email!r}")
    if password is None:
        password = new_password()
    elif not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ValueError(
            f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )
    taken = await session.scalar(
        select(func.count()).select_from(Operator).where(Operator.email == email)
    )
    if taken:
        raise ValueError(f"an operator {email} exists already")
    session.add(Operator(email=email, password_hash=hash_password(password)))
    await session.flush()
    return CreatedOperator(email=email, password=password)
