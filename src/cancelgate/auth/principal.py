"""Who is calling: the bearer token, verified, and the client behind it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from cancelgate.auth.models import ApiClient
from cancelgate.auth.repository import client_by_pk
from cancelgate.auth.tokens import InvalidToken, verify_access_token
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


async def connect_principal(
    request: Request, _declared: HTTPAuthorizationCredentials | None = Depends(BEARER)
) -> Principal:
    """The caller of a Connect endpoint, or 401 in the Connect format."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized()
    runtime = runtime_of(request)
    now = time.time()
    known = runtime.principals.get(token, now)
    if known is not None:
        return known
    try:
        claims = verify_access_token(runtime.keys, token)
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc
    async with runtime.sessions() as session:
        client = await client_by_pk(session, claims.client_pk)
    if client is None or client.tenant_id != claims.tenant_id:
        raise unauthorized("the client of this token is no longer enabled")
    principal = principal_of(client)
    runtime.principals.put(token, principal, claims.expires_at, now)
    return principal
