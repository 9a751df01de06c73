"""The client-credentials grant: parse the form, authenticate the client, issue a token."""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus

from cancelgate.auth.assertions import (
    ASSERTION_TYPE,
    InvalidAssertion,
    unverified_issuer,
    verify_assertion,
)
from cancelgate.auth.clients import authenticate_with_secret
from cancelgate.auth.oauth_errors import OAuthError, invalid_client, invalid_request
from cancelgate.auth.repository import ClientRow, enabled_client, remember_assertion
from cancelgate.auth.tokens import issue_access_token
from cancelgate.db.database import UnitOfWork
from cancelgate.keys import InstanceKeys
from cancelgate.settings import Settings

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class TokenRequest:
    """A token request as received, before client authentication."""

    form: dict[str, str]
    authorization: str | None


def parse_form(content_type: str | None, body: bytes) -> dict[str, str]:
    """The form parameters; RFC 6749 forbids repeating one."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != FORM:
        raise invalid_request(f"the token request must be sent as {FORM}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid_request("the form body cannot be read") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request(f"the parameter {name} is repeated")
        form[name] = value
    return form


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, secret) from an HTTP Basic header (RFC 6749 §2.3.1), or None."""
    if not authorization or authorization[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client("the Basic credentials cannot be decoded") from exc
    if ":" not in decoded:
        raise invalid_client("the Basic credentials cannot be decoded")
    client_id, secret = decoded.split(":", 1)
    return unquote_plus(client_id), unquote_plus(secret)


def claimed_client_id(request: TokenRequest) -> str | None:
    """The client id a request names, before anything is verified (None when it names none
    readably): what the token endpoint's rate limits count by."""
    try:
        basic = basic_credentials(request.authorization)
    except OAuthError:
        return None
    if basic is not None:
        return basic[0] or None
    if "client_assertion" in request.form:
        try:
            return unverified_issuer(request.form["client_assertion"]) or None
        except InvalidAssertion:
            return None
    return request.form.get("client_id") or None


async def authenticate_client(
    uow: UnitOfWork,
    keys: InstanceKeys,
    settings: Settings,
    request: TokenRequest,
    audiences: set[str],
) -> ClientRow:
    """The client the request authenticates as, by exactly one of the three methods."""
    form = request.form
    basic = basic_credentials(request.authorization)
    methods = [
        name
        for name, used in (
            ("client_secret_basic", basic is not None),
            ("client_secret_post", "client_secret" in form),
            ("private_key_jwt", "client_assertion" in form),
        )
        if used
    ]
    if not methods:
        raise invalid_client("no client authentication was sent")
    if len(methods) > 1:
        raise invalid_request("use exactly one client authentication method")
    if basic is not None:
        client_id, secret = basic
        if form.get("client_id") not in (None, client_id):
            raise invalid_request("client_id does not match the Basic credentials")
        client = await authenticate_with_secret(uow, keys.pepper, client_id, secret)
    elif "client_secret" in form:
        client = await authenticate_with_secret(
            uow, keys.pepper, form.get("client_id", ""), form["client_secret"]
        )
    else:
        client = await _authenticate_with_assertion(uow, settings, form, audiences)
    if client is None:
        raise invalid_client()
    return client


async def _authenticate_with_assertion(
    uow: UnitOfWork, settings: Settings, form: dict[str, str], audiences: set[str]
) -> ClientRow:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise invalid_request(f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form["client_assertion"]
    try:
        client_id = unverified_issuer(assertion)
    except InvalidAssertion as exc:
        raise invalid_client(str(exc)) from exc
    if form.get("client_id") not in (None, client_id):
        raise invalid_client("client_id does not match the assertion's issuer")
    client = await enabled_client(uow, client_id)
    if client is None or not client.jwks:
        raise invalid_client()
    try:
        verified = verify_assertion(
            assertion,
            client.jwks,
            client_id=client_id,
            audiences=audiences,
            now=int(time.time()),
            skew=settings.clock_skew_seconds,
            max_lifetime=settings.assertion_max_lifetime_seconds,
        )
    except InvalidAssertion as exc:
        raise invalid_client(str(exc)) from exc
    # In the unit's transaction: the jti is spent only if the request's unit commits.
    fresh = await remember_assertion(
        uow, client_id=client_id, jti=verified.jti, expires_at=verified.expires_at
    )
    if not fresh:
        raise invalid_client("the client assertion was already used (jti replay)")
    return client


async def grant_client_credentials(
    uow: UnitOfWork,
    keys: InstanceKeys,
    settings: Settings,
    request: TokenRequest,
    *,
    issuer: str,
    audiences: set[str],
) -> dict[str, object]:
    """The token response for a valid client-credentials request."""
    grant_type = request.form.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type} is not supported")
    client = await authenticate_client(uow, keys, settings, request, audiences)
    token = issue_access_token(
        keys,
        issuer=issuer,
        tenant_id=client.tenant_id,
        client_pk=client.id,
        client_id=client.client_id,
        lifetime_seconds=settings.token_lifetime_seconds,
    )
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": settings.token_lifetime_seconds,
    }
