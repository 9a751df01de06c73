"""Channel clients: created by the CLI (an ORM session) or the console (its unit of work),
checked on every UX request (secrets hashed at rest)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import String, bindparam, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.secrets import hash_secret, new_client_secret, verify_secret
from cancelgate.db.database import UnitOfWork, compiled
from cancelgate.settings import split_units
from cancelgate.ux import repository
from cancelgate.ux.errors import unauthorized
from cancelgate.ux.models import ChannelClient
from cancelgate.ux.repository import ChannelClientRow

MIN_LENGTH = 5
INSERT_CHANNEL_CLIENT = compiled(
    insert(ChannelClient)
    .values(
        client_id=bindparam("client_id"),
        secret_hash=bindparam("secret_hash"),
        name=bindparam("name"),
        business_units=bindparam("business_units", type_=ARRAY(String())),
        # Written here: a compiled statement does not run the model's Python-side default.
        enabled=True,
    )
    .returning(ChannelClient.id)
)


@dataclass(frozen=True)
class CreatedChannelClient:
    """A new channel client; the secret is shown this once."""

    client_id: str
    client_secret: str
    name: str
    business_units: list[str]


def parse_business_units(text: str, configured: frozenset[str]) -> list[str]:
    """Comma-separated business units, each configured; ValueError otherwise."""
    units = sorted(split_units(text))
    unknown = [u for u in units if u not in configured]
    if not units or unknown:
        raise ValueError(
            f"business units must be among {', '.join(sorted(configured))}; got {text!r}"
        )
    return units


def _credentials(pepper: bytes) -> tuple[str, str, str]:
    """A fresh channel client id, secret, and the secret's at-rest hash."""
    secret = new_client_secret()
    return "ch_" + secrets.token_hex(8), secret, hash_secret(pepper, secret)


async def add_channel_client(
    uow: UnitOfWork, pepper: bytes, *, name: str, business_units: list[str]
) -> CreatedChannelClient:
    """Add a new channel client in the unit's transaction; the secret is returned once."""
    client_id, secret, secret_hash = _credentials(pepper)
    params = {
        "client_id": client_id,
        "secret_hash": secret_hash,
        "name": name,
        "business_units": business_units,
    }
    await uow.returning(INSERT_CHANNEL_CLIENT, params)
    return CreatedChannelClient(client_id, secret, name, business_units)


async def create_channel_client(
    session: AsyncSession, pepper: bytes, *, name: str, business_units: list[str]
) -> CreatedChannelClient:
    """Add a new channel client with a fresh id and secret to the session (the caller
    commits)."""
    client_id, secret, secret_hash = _credentials(pepper)
    session.add(
        ChannelClient(
            client_id=client_id,
            secret_hash=secret_hash,
            name=name,
            business_units=business_units,
        )
    )
    await session.flush()
    return CreatedChannelClient(client_id, secret, name, business_units)


async def authenticate(
    uow: UnitOfWork, pepper: bytes, client_id: str | None, client_secret: str | None
) -> ChannelClientRow:
    """The enabled channel client these headers name, or 401."""
    if not client_id or not client_secret:
        raise unauthorized()
    if len(client_id) < MIN_LENGTH or len(client_secret) < MIN_LENGTH:
        raise unauthorized()
    client = await repository.channel_client(uow, client_id)
    # Checked either way (against nothing when unknown): timing does not reveal which ids exist.
    ok = verify_secret(pepper, client_secret, client.secret_hash if client else None)
    if client is None or not ok:
        raise unauthorized()
    return client
