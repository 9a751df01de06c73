"""Who is calling: the bearer token, verified, and the client behind it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from cancelgate.auth.models import ApiClient
from cancelgate.auth.repository import client_by_pk
from cancelgate.auth.tokens import Expected, InvalidToken, verify_access_token
from cancelgate.connect.errors import unauthorized
from cancelgate.json_input import single
from cancelgate.runtime import Runtime


@dataclass(frozen=True)
class Principal:
    """An authenticated API user: a client of one tenant. Every query is scoped by it."""

    tenant_id: int
    client_pk: int
    client_id: str
    display_name: str
    email: str


def principal_of(client: ApiClient) -> Principal:
    """The API user a client acts as."""
    return Principal(
        tenant_id=client.tenant_id,
        client_pk=client.id,
        client_id=client.client_id,
        display_name=client.display_name,
        email=client.email,
    )


def runtime_of(request: Request) -> Runtime:
    """The process runtime (set up by the app's lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def issuer_of(request: Request) -> str:
    """The issuer identifier: the configured public URL, else the URL the caller used."""
    configured = runtime_of(request).settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    return bearer_token_of(single(request.headers.getlist("authorization")))


def bearer_token_of(header: str | None) -> str | None:
    """The token of an `Authorization` header value of the Bearer scheme, if any."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


# Documents the bearer scheme in OpenAPI; the token is read below (the 401 is ours).
BEARER = HTTPBearer(auto_error=False, bearerFormat="JWT", description="Token from /oauth/token")


# Where the idempotency middleware leaves the principal it resolved, so the route's dependency
# takes it instead of resolving the same token twice.
PRINCIPAL_SCOPE_KEY = "cancelgate.principal"


async def authenticate(runtime: Runtime, token: str, issuer: str) -> Principal:
    """The enabled client behind a bearer token (remembered briefly), or InvalidToken saying why.

    The one rule for every caller of the Connect API, whichever layer asks; `issuer` is the
    issuer identifier of the URL the caller reached.
    """
    now = time.time()
    # Per issuer: a token verified for one issuer identifier proves nothing for another.
    cache_key = f"{issuer} {token}"
    known = runtime.principals.get(cache_key, now)
    if known is not None:
        return known
    settings = runtime.settings
    expected = Expected(
        issuer=issuer,
        max_lifetime_seconds=settings.token_lifetime_seconds,
        leeway_seconds=settings.clock_skew_seconds,
    )
    claims = verify_access_token(runtime.keys, token, expected)
    async with runtime.sessions() as session:
        client = await client_by_pk(session, claims.client_pk)
    if client is None or client.tenant_id != claims.tenant_id:
        raise InvalidToken("the client of this token is no longer enabled")
    principal = principal_of(client)
    runtime.principals.put(cache_key, principal, claims.expires_at, now)
    return principal


async def connect_principal(
    request: Request, _declared: HTTPAuthorizationCredentials | None = Depends(BEARER)
) -> Principal:
    """The caller of a Connect endpoint, or 401 in the Connect format."""
    resolved: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if resolved is not None:
        return resolved
    token = bearer_token(request)
    if token is None:
        raise unauthorized()
    try:
        return await authenticate(runtime_of(request), token, issuer_of(request))
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc
