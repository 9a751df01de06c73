"""This installation's own keys: token signing key, secret pepper, secret-sealing key."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from joserfc.jwk import RSAKey
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.models import InstanceKey

SIGNING_KEY = "token_signing_key"
PEPPER = "secret_pepper"
# AES-256 key that seals secrets we must be able to read back (webhook signing secrets).
SEALING_KEY = "secret_sealing_key"


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


async def ensure_instance_keys(session: AsyncSession) -> None:
    """Create the installation's keys once; concurrent callers agree on the first."""
    pem = RSAKey.generate_key(2048).as_pem(private=True).decode()
    for name, value in (
        (SIGNING_KEY, pem),
        (PEPPER, secrets.token_hex(32)),
        (SEALING_KEY, secrets.token_hex(32)),
    ):
        await session.execute(
            insert(InstanceKey).values(name=name, value=value).on_conflict_do_nothing()
        )
    await session.commit()


async def load_instance_keys(session: AsyncSession) -> InstanceKeys:
    """Read the installation's keys (created by `cancelgate migrate`)."""
    rows = dict((await session.execute(select(InstanceKey.name, InstanceKey.value))).all())
    if any(name not in rows for name in (SIGNING_KEY, PEPPER, SEALING_KEY)):
        raise RuntimeError("instance keys are missing: run `cancelgate migrate` first")
    return InstanceKeys(
        signing_key=RSAKey.import_key(rows[SIGNING_KEY]),
        pepper=bytes.fromhex(rows[PEPPER]),
        sealing_key=bytes.fromhex(rows[SEALING_KEY]),
    )
