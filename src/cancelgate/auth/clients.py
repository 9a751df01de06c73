"""API clients: created by seeding and the command line (ORM sessions, committed by their
callers) or by the console (in its unit of work), authenticated with a secret by the token
endpoint (in its unit of work), their secrets rotated by the console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.identity import Principal
from cancelgate.auth.models import ApiClient, Tenant
from cancelgate.auth.repository import ClientRow, enabled_client
from cancelgate.auth.secrets import hash_secret, new_client_id, new_client_secret, verify_secret
from cancelgate.db.database import UnitOfWork, compiled

DEFAULT_EMAIL = "api@example.com"
# The console's statements (the command line's go through its ORM session).
INSERT_TENANT = compiled(
    insert(Tenant)
    .values(name=bindparam("name"))
    .on_conflict_do_nothing(index_elements=[Tenant.name])
    .returning(Tenant.id)
)
INSERT_CLIENT = compiled(
    insert(ApiClient)
    .values(
        tenant_id=bindparam("tenant_id"),
        client_id=bindparam("client_id"),
        secret_hash=bindparam("secret_hash"),
        display_name=bindparam("display_name"),
        email=bindparam("email"),
        # Written here: a compiled statement does not run the model's Python-side default.
        enabled=True,
    )
    .returning(ApiClient.id)
)
SET_SECRET_HASH = compiled(
    update(ApiClient)
    # A private_key_jwt client has no secret to rotate (and must not be given one).
    .where(ApiClient.client_id == bindparam("client_id"), ApiClient.secret_hash.is_not(None))
    .values(secret_hash=bindparam("secret_hash"))
    .returning(ApiClient.id)
)


@dataclass(frozen=True)
class NewClient:
    """A client just created; the only moment its secret is known in clear."""

    client_id: str
    client_secret: str
    tenant: str


def principal_of(client: ApiClient) -> Principal:
    """The API user a client acts as."""
    return Principal(
        tenant_id=client.tenant_id,
        client_pk=client.id,
        client_id=client.client_id,
        display_name=client.display_name,
        email=client.email,
    )


def validate_jwks(jwks: dict[str, Any]) -> None:
    """Raise ValueError unless jwks is a JWK Set of public RSA keys."""
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a valid JWK Set: {exc}") from exc
    if not key_set.keys or any(k.key_type != "RSA" for k in key_set.keys):
        raise ValueError("the JWK Set must hold at least one RSA key, and only RSA keys")
    if any(k.is_private for k in key_set.keys):
        raise ValueError("the JWK Set must hold public keys only")


async def get_or_create_tenant(session: AsyncSession, name: str) -> Tenant:
    """The tenant of that name, created if it does not exist yet (seeding)."""
    await session.execute(insert(Tenant).values(name=name).on_conflict_do_nothing())
    tenant = (await session.execute(select(Tenant).where(Tenant.name == name))).scalar_one()
    return tenant


async def client_by_client_id(session: AsyncSession, client_id: str) -> ApiClient | None:
    """An enabled client by its public id, read through a seeding session."""
    stmt = select(ApiClient).where(ApiClient.client_id == client_id, ApiClient.enabled)
    return (await session.execute(stmt)).scalar_one_or_none()


def _credentials(pepper: bytes) -> tuple[str, str, str]:
    """A fresh client id, secret, and the secret's at-rest hash (every path that makes one)."""
    secret = new_client_secret()
    return new_client_id(), secret, hash_secret(pepper, secret)


async def create_tenant(uow: UnitOfWork, name: str) -> int | None:
    """Add a tenant in the unit's transaction; its id, or None when the name is taken."""
    rows = await uow.returning(INSERT_TENANT, {"name": name})
    return int(rows[0][0]) if rows else None


async def add_client(
    uow: UnitOfWork,
    pepper: bytes,
    *,
    tenant_id: int,
    tenant: str,
    display_name: str,
    email: str = DEFAULT_EMAIL,
) -> NewClient:
    """Add a secret-authenticated client of an existing tenant in the unit's transaction; the
    secret is returned once."""
    client_id, secret, secret_hash = _credentials(pepper)
    params = {
        "tenant_id": tenant_id,
        "client_id": client_id,
        "secret_hash": secret_hash,
        "display_name": display_name,
        "email": email,
    }
    await uow.returning(INSERT_CLIENT, params)
    return NewClient(client_id=client_id, client_secret=secret, tenant=tenant)


async def rotate_secret(uow: UnitOfWork, pepper: bytes, client_id: str) -> str | None:
    """Give the client a fresh secret in the unit's transaction (the old one is refused from
    its commit on); the new secret, returned once, or None when no such client has a secret."""
    secret = new_client_secret()
    params = {"client_id": client_id, "secret_hash": hash_secret(pepper, secret)}
    return secret if await uow.returning(SET_SECRET_HASH, params) else None


async def create_client(
    session: AsyncSession,
    pepper: bytes,
    *,
    tenant: str,
    display_name: str = "API User",
    email: str = DEFAULT_EMAIL,
    jwks: dict[str, Any] | None = None,
) -> NewClient:
    """Add a client of the tenant (created if new) to the session, which the caller commits;
    the secret is returned once."""
    if jwks is not None:
        validate_jwks(jwks)
    tenant_row = await get_or_create_tenant(session, tenant)
    client_id, secret, secret_hash = _credentials(pepper)
    session.add(
        ApiClient(
            tenant_id=tenant_row.id,
            client_id=client_id,
            secret_hash=secret_hash,
            jwks=jwks,
            display_name=display_name,
            email=email,
        )
    )
    await session.flush()
    return NewClient(client_id=client_id, client_secret=secret, tenant=tenant)


async def authenticate_with_secret(
    uow: UnitOfWork, pepper: bytes, client_id: str, secret: str
) -> ClientRow | None:
    """The client when id and secret match, else None (same work either way)."""
    client = await enabled_client(uow, client_id)
    ok = verify_secret(pepper, secret, client.secret_hash if client else None)
    return client if client is not None and ok else None
