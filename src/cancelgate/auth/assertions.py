"""private_key_jwt client authentication (RFC 7523 §2.2, as OIDC providers implement it)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class InvalidAssertion(Exception):
    """The client assertion does not authenticate its client."""


@dataclass(frozen=True)
class VerifiedAssertion:
    """A client assertion whose signature and claims are valid (replay not yet checked)."""

    client_id: str
    jti: str
    expires_at: datetime


def unverified_issuer(assertion: str) -> str:
    """The `iss` claim, read before verification only to find the client's keys."""
    try:
        payload = extract_compact(assertion.encode()).payload
        claims = json.loads(payload)
    except (JoseError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidAssertion("the client assertion is not a JWT") from exc
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise InvalidAssertion("the client assertion has no iss claim")
    return issuer


def _number(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidAssertion(f"the {name} claim is not a number")
    if not -(2**62) < value < 2**62:
        raise InvalidAssertion(f"the {name} claim is out of range")
    return int(value)


def verify_assertion(
    assertion: str,
    jwks: dict[str, Any],
    *,
    client_id: str,
    audiences: set[str],
    now: int,
    skew: int,
    max_lifetime: int,
) -> VerifiedAssertion:
    """Check signature (RS256, a key of the client), iss, sub, aud, exp, nbf, iat and jti."""
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        token = jwt.decode(assertion, key_set, algorithms=["RS256"])
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise InvalidAssertion("the client assertion is not signed by a key of the client") from exc
    claims = token.claims
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidAssertion("iss and sub must both be the client id")
    aud = claims.get("aud")
    aud_values = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(value, str) and value in audiences for value in aud_values):
        raise InvalidAssertion("aud is not this token endpoint")
    exp = _number(claims, "exp")
    if exp is None:
        raise InvalidAssertion("the client assertion has no exp claim")
    if exp <= now - skew:
        raise InvalidAssertion("the client assertion has expired")
    if exp > now + max_lifetime + skew:
        raise InvalidAssertion("the client assertion lives too long")
    for name in ("nbf", "iat"):
        value = _number(claims, name)
        if value is not None and value > now + skew:
            raise InvalidAssertion(f"the client assertion is not valid yet ({name})")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise InvalidAssertion("the client assertion has no usable jti claim")
    return VerifiedAssertion(
        client_id=client_id, jti=jti, expires_at=datetime.fromtimestamp(exp + skew, UTC)
    )
