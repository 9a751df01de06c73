"""Who is calling: the bearer token, verified, and the enabled client behind it. One rule for
every layer that asks (the routes' dependency, the idempotency middleware)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request
from starlette.types import Scope

from cancelgate.auth.identity import Principal
from cancelgate.auth.principal_cache import PrincipalCache
from cancelgate.auth.repository import principal_by_client_pk
from cancelgate.auth.tokens import Expected, InvalidToken, verify_access_token
from cancelgate.connect.errors import unauthorized
from cancelgate.db.database import Database
from cancelgate.json_input import single
from cancelgate.keys import InstanceKeys
from cancelgate.settings import Settings

# Where the idempotency middleware leaves the principal it resolved, so the route's dependency
# takes it instead of resolving the same token twice.
PRINCIPAL_SCOPE_KEY = "cancelgate.principal"


@dataclass(frozen=True)
class Authenticator:
    """Verifies bearer tokens and finds their clients, remembering both briefly."""

    database: Database
    keys: InstanceKeys
    settings: Settings
    cache: PrincipalCache

    async def principal(self, token: str, issuer: str) -> Principal:
        """The enabled client behind a token, or InvalidToken saying why; `issuer` is the
        issuer identifier of the URL the caller reached."""
        now = time.time()
        # Per issuer: a token verified for one issuer identifier proves nothing for another.
        cache_key = f"{issuer} {token}"
        known = self.cache.get(cache_key, now)
        if known is not None:
            return known
        expected = Expected(
            issuer=issuer,
            max_lifetime_seconds=self.settings.token_lifetime_seconds,
            leeway_seconds=self.settings.clock_skew_seconds,
        )
        claims = verify_access_token(self.keys, token, expected)
        principal = await principal_by_client_pk(self.database, claims.client_pk)
        if principal is None or principal.tenant_id != claims.tenant_id:
            raise InvalidToken("the client of this token is no longer enabled")
        self.cache.put(cache_key, principal, claims.expires_at, now)
        return principal


def authenticator_of(request: Request) -> Authenticator:
    """The application's authenticator (built by its lifespan)."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator


def issuer_of(request: Request) -> str:
    """The issuer identifier: the configured public URL, else the URL the caller used."""
    configured = authenticator_of(request).settings.public_base_url
    return (configured or reached_origin(request.scope)).rstrip("/")


DEFAULT_PORTS = {"http": 80, "https": 443}


def reached_origin(scope: Scope) -> str:
    """The origin and root path the caller reached, as Starlette's `base_url` spells it, without
    building a URL object on every request (profiled: a tenth of the principal's cost)."""
    scheme = scope.get("scheme", "http")
    host = next(
        (value.decode("latin-1") for name, value in scope["headers"] if name == b"host"), ""
    )
    if not host:
        server_host, port = scope["server"]
        default = DEFAULT_PORTS.get(scheme)
        host = server_host if port == default else f"{server_host}:{port}"
    return f"{scheme}://{host}{scope.get('root_path', '')}"


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
    resolved: Principal | None = request.scope.get(PRINCIPAL_SCOPE_KEY)
    if resolved is not None:
        return resolved
    token = bearer_token(request)
    if token is None:
        raise unauthorized()
    try:
        return await authenticator_of(request).principal(token, issuer_of(request))
    except InvalidToken as exc:
        raise unauthorized(str(exc)) from exc


Caller = Annotated[Principal, Depends(connect_principal)]
