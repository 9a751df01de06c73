"""This installation's own keys: token signing key, secret pepper, secret-sealing key. They
live in its database, so every process of the installation agrees on them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from joserfc.jwk import RSAKey
from sqlalchemy import DateTime, String, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cancelgate.db.base import Base
from cancelgate.db.database import Database, UnitOfWork, compiled

SIGNING_KEY = "token_signing_key"
PEPPER = "secret_pepper"
# AES-256 key that seals secrets we must be able to read back (webhook signing secrets).
SEALING_KEY = "secret_sealing_key"


class InstanceKey(Base):
    """Secrets this installation generated for itself (token signing key, HMAC pepper)."""

    __tablename__ = "instance_keys"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


@dataclass(frozen=True)
class InstanceKeys:
    """Keys shared by every process of one installation (they live in its database)."""

    signing_key: RSAKey
    pepper: bytes
    sealing_key: bytes

    @property
    def kid(self) -> str:
        """The key id of the signing key (its RFC 7638 thumbprint)."""
        return self.signing_key.thumbprint()

    def public_jwks(self) -> dict[str, object]:
        """The JWKS that verifies our access tokens."""
        public = self.signing_key.as_dict(private=False)
        public.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [public]}


_INSERT_KEY = compiled(
    insert(InstanceKey)
    .values(name=bindparam("name"), value=bindparam("value"))
    .on_conflict_do_nothing()
)
_ALL_KEYS = compiled(select(InstanceKey.name, InstanceKey.value))


async def ensure_instance_keys(uow: UnitOfWork) -> None:
    """Create the installation's keys once; concurrent callers agree on the first."""
    pem = RSAKey.generate_key(2048).as_pem(private=True).decode()
    for name, value in (
        (SIGNING_KEY, pem),
        (PEPPER, secrets.token_hex(32)),
        (SEALING_KEY, secrets.token_hex(32)),
    ):
        await uow.execute(_INSERT_KEY, {"name": name, "value": value})


def keys_from_rows(rows: dict[str, str]) -> InstanceKeys:
    """The keys from their stored (name → value) rows."""
    if any(name not in rows for name in (SIGNING_KEY, PEPPER, SEALING_KEY)):
        raise RuntimeError("instance keys are missing: run `cancelgate migrate` first")
    return InstanceKeys(
        signing_key=RSAKey.import_key(rows[SIGNING_KEY]),
        pepper=bytes.fromhex(rows[PEPPER]),
        sealing_key=bytes.fromhex(rows[SEALING_KEY]),
    )


async def load_instance_keys(database: Database) -> InstanceKeys:
    """Read the installation's keys (created by `cancelgate migrate`)."""
    return keys_from_rows({name: value for name, value in await database.all(_ALL_KEYS)})


async def instance_keys_in(session: AsyncSession) -> InstanceKeys:
    """The same, read through an ORM session (the seeding tools and the command line's)."""
    rows = (await session.execute(select(InstanceKey.name, InstanceKey.value))).all()
    return keys_from_rows({name: value for name, value in rows})
