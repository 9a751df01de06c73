"""OAuth 2.0 token endpoint, RFC 8414 discovery and the JWKS of our access tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse

from cancelgate.auth.oauth_errors import NO_STORE, TOKEN_PATH, OAuthError
from cancelgate.auth.principal import issuer_of
from cancelgate.auth.token_endpoint import (
    TokenRequest,
    claimed_client_id,
    grant_client_credentials,
    parse_form,
)
from cancelgate.auth.token_limits import token_limits
from cancelgate.connect.openapi import OAuthErrorBody, answer, error_responses
from cancelgate.dependencies import Keys, RateLimits, SettingsDep, Uow

router = APIRouter(tags=["oauth"])


def accepted_audiences(request: Request) -> set[str]:
    """What a client assertion's `aud` may name (RFC 7523): our token endpoint or issuer.

    With CANCELGATE_PUBLIC_BASE_URL set, only it counts: a Host header never widens the set.
    """
    issuer = issuer_of(request)
    return {issuer + TOKEN_PATH, issuer}


class TokenBody(BaseModel):
    """RFC 6749 §5.1 access token response."""

    access_token: str
    token_type: str = Field(examples=["Bearer"])
    expires_in: int


OAUTH_ERRORS = {
    400: "invalid_request, unsupported_grant_type",
    401: "invalid_client: unknown client, wrong secret, bad or replayed assertion",
    413: "Request body over the size limit",
    429: "invalid_request: too many tokens for this client id, or too many failed "
    "authentications; wait Retry-After seconds",
}

TOKEN_RESPONSES = answer(200, "An access token", TokenBody) | error_responses(
    OAuthErrorBody, OAUTH_ERRORS, *OAUTH_ERRORS
)


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414 §2 metadata: only what this server serves."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    response_types_supported: list[str]


class JsonWebKey(BaseModel):
    """An RFC 7517 public RSA key that verifies access tokens."""

    kty: str = Field(examples=["RSA"])
    kid: str
    use: str = Field(examples=["sig"])
    alg: str = Field(examples=["RS256"])
    n: str
    e: str


class JsonWebKeySet(BaseModel):
    """An RFC 7517 JWK Set."""

    keys: list[JsonWebKey]


@router.post(
    TOKEN_PATH,
    summary="Issue an access token (client credentials grant)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "title": "TokenRequest",
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "client_assertion_type": {"type": "string"},
                            "client_assertion": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
    responses=TOKEN_RESPONSES,
)
async def token(
    request: Request, uow: Uow, keys: Keys, settings: SettingsDep, limiter: RateLimits
) -> JSONResponse:
    """RFC 6749 §4.4 with client_secret_basic, client_secret_post or private_key_jwt; 429 when
    the client id named is over its quota or must wait after failed authentications."""
    try:
        form = parse_form(request.headers.get("content-type"), await request.body())
        asked = TokenRequest(form=form, authorization=request.headers.get("authorization"))
        async with token_limits(limiter, request.scope, claimed_client_id(asked)):
            body = await grant_client_credentials(
                uow,
                keys,
                settings,
                asked,
                issuer=issuer_of(request),
                audiences=accepted_audiences(request),
            )
    except OAuthError as exc:
        return exc.response()
    return JSONResponse(body, headers=NO_STORE)


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata",
    responses=answer(200, "RFC 8414 metadata", AuthorizationServerMetadata),
)
async def metadata(request: Request) -> JSONResponse:
    """RFC 8414 metadata."""
    issuer = issuer_of(request)
    return JSONResponse(
        {
            "issuer": issuer,
            "token_endpoint": issuer + TOKEN_PATH,
            "jwks_uri": issuer + "/.well-known/jwks.json",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            # REQUIRED by RFC 8414 §2, but response types belong to the authorization endpoint,
            # which this server does not have (client credentials only): none is supported.
            "response_types_supported": [],
        }
    )


@router.get(
    "/.well-known/jwks.json",
    summary="Keys that verify our access tokens",
    responses=answer(200, "The JWK Set", JsonWebKeySet),
)
async def jwks(keys: Keys) -> JSONResponse:
    """The public JWKS of the access-token signing key."""
    return JSONResponse(keys.public_jwks())
