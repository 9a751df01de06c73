"""Creating API clients and authenticating them with a secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.auth.models import ApiClient
from cancelgate.auth.repository import client_by_client_id, get_or_create_tenant
from cancelgate.auth.secrets import hash_secret, new_client_id, new_client_secret, verify_secret


@dataclass(frozen=True)
class NewClient:
    """A client just created; the only moment its secret is known in clear."""

    client_id: str
    client_secret: str
    tenant: str


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


async def create_client(
    session: AsyncSession,
    pepper: bytes,
    *,
    tenant: str,
    display_name: str = "API User",
    email: str = "api@example.com",
    jwks: dict[str, Any] | None = None,
) -> NewClient:
    """Create a client of the tenant (created if new); the secret is returned once."""
    if jwks is not None:
        validate_jwks(jwks)
    tenant_row = await get_or_create_tenant(session, tenant)
    client_id, secret = new_client_id(), new_client_secret()
    session.add(
        ApiClient(
            tenant_id=tenant_row.id,
            client_id=client_id,
            secret_hash=hash_secret(pepper, secret),
            jwks=jwks,
            display_name=display_name,
            email=email,
        )
    )
    await session.commit()
    return NewClient(client_id=client_id, client_secret=secret, tenant=tenant)


async def authenticate_with_secret(
    session: AsyncSession, pepper: bytes, client_id: str, secret: str
) -> ApiClient | None:
    """The client when id and secret match, else None (same work either way)."""
    client = await client_by_client_id(session, client_id)
    ok = verify_secret(pepper, secret, client.secret_hash if client else None)
    return client if client is not None and ok else None
