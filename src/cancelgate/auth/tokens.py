"""JWT access tokens: issued by the token endpoint, verified on every API request."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from cancelgate.keys import InstanceKeys

AUDIENCE = "cancelgate-api"


@dataclass(frozen=True)
class TokenClaims:
    """What an access token asserts about its bearer."""

    tenant_id: int
    client_pk: int
    client_id: str
    expires_at: int


class InvalidToken(Exception):
    """The bearer token is malformed, expired, or not signed by us."""


def issue_access_token(
    keys: InstanceKeys,
    *,
    issuer: str,
    tenant_id: int,
    client_pk: int,
    client_id: str,
    lifetime_seconds: int,
    now: int | None = None,
) -> str:
    """A signed RS256 access token for a client of a tenant."""
    issued_at = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": client_id,
        "aud": AUDIENCE,
        "iat": issued_at,
        "exp": issued_at + lifetime_seconds,
        "jti": secrets.token_hex(16),
        "tid": tenant_id,
        "cid": client_pk,
    }
    return jwt.encode({"alg": "RS256", "kid": keys.kid}, claims, keys.signing_key, ["RS256"])


@dataclass(frozen=True)
class Expected:
    """What a token must match to be ours and current: the issuer the caller reached, the
    longest lifetime we issue, and the clock skew tolerated on `iat` and `nbf`."""

    issuer: str
    max_lifetime_seconds: int
    leeway_seconds: int


def verify_access_token(
    keys: InstanceKeys, token: str, expected: Expected, *, now: int | None = None
) -> TokenClaims:
    """The claims of a valid token, or InvalidToken with the reason."""
    try:
        decoded = jwt.decode(token, keys.signing_key, algorithms=["RS256"])
    except (JoseError, ValueError) as exc:
        raise InvalidToken("the token is malformed or not signed by this server") from exc
    claims = decoded.claims
    current = int(time.time()) if now is None else now
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf", 0)
    if not isinstance(exp, int) or exp <= current:
        raise InvalidToken("the token has expired")
    if claims.get("iss") != expected.issuer:
        raise InvalidToken(f"the token was not issued by {expected.issuer}")
    if claims.get("aud") != AUDIENCE:
        raise InvalidToken("the token is not meant for this API")
    if not isinstance(iat, int) or iat > current + expected.leeway_seconds:
        raise InvalidToken("the token's issue time is missing or in the future")
    if not isinstance(nbf, int) or nbf > current + expected.leeway_seconds:
        raise InvalidToken("the token is not valid yet")
    if exp - iat > expected.max_lifetime_seconds:
        raise InvalidToken("the token lives longer than this server issues tokens for")
    tid, cid, sub = claims.get("tid"), claims.get("cid"), claims.get("sub")
    if not isinstance(tid, int) or not isinstance(cid, int) or not isinstance(sub, str):
        raise InvalidToken("the token does not name a client")
    return TokenClaims(tenant_id=tid, client_pk=cid, client_id=sub, expires_at=exp)
