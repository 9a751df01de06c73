"""The OAuth 2.0 token endpoint: three client authentication methods and RFC 6749 errors."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.api.conftest import CLIENT_KEY, Caller

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "client-key-1"})


def assert_token_response(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3000
    return body


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert "error_description" in response.json()
    assert response.headers["cache-control"] == "no-store"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


def assertion(client_id: str, audience: str, key: RSAKey = CLIENT_KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id, "sub": client_id, "aud": audience, "exp": now + 60,
        "iat": now, "nbf": now, "jti": uuid.uuid4().hex,
    }  # fmt: skip
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": key.kid or "client-key-1"}, claims, key)


def jwt_form(token: str, client_id: str | None = None) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": token,
    }
    if client_id:
        form["client_id"] = client_id
    return form


async def test_client_secret_basic_and_post(caller: Caller) -> None:
    basic = await caller.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        auth=(caller.client_id, caller.client_secret),
    )  # fmt: skip
    token = assert_token_response(basic)["access_token"]
    jwks = (await caller.http.get("/.well-known/jwks.json")).json()
    claims = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
    assert claims["sub"] == caller.client_id and claims["tid"] == caller.tenant_id
    assert claims["exp"] - claims["iat"] == 3000
    post = await caller.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": caller.client_id,
              "client_secret": caller.client_secret},
    )  # fmt: skip
    assert_token_response(post)


async def test_bad_secrets_are_invalid_client(caller: Caller) -> None:
    for auth in ((caller.client_id, "wrong"), ("cg_unknown", caller.client_secret)):
        response = await caller.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth
        )
        assert_oauth_error(response, 401, "invalid_client")
    garbage = await caller.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic !!!"},
    )  # fmt: skip
    assert_oauth_error(garbage, 401, "invalid_client")
    nothing = await caller.http.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert_oauth_error(nothing, 401, "invalid_client")


async def test_grant_type_and_request_errors(caller: Caller) -> None:
    auth = (caller.client_id, caller.client_secret)
    response = await caller.http.post("/oauth/token", data={"grant_type": "password"}, auth=auth)
    assert_oauth_error(response, 400, "unsupported_grant_type")
    response = await caller.http.post("/oauth/token", data={}, auth=auth)
    assert_oauth_error(response, 400, "invalid_request")
    response = await caller.http.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, auth=auth
    )
    assert_oauth_error(response, 400, "invalid_request")
    two_methods = await caller.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_secret": caller.client_secret},
        auth=auth,
    )
    assert_oauth_error(two_methods, 400, "invalid_request")
    repeated = await caller.http.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic " + base64.b64encode(
                     f"{caller.client_id}:{caller.client_secret}".encode()).decode()},
    )  # fmt: skip
    assert_oauth_error(repeated, 400, "invalid_request")


async def test_private_key_jwt(http: httpx.AsyncClient, api_server: str, jwt_client: str) -> None:
    token_url = f"{api_server}/oauth/token"
    response = await http.post("/oauth/token", data=jwt_form(assertion(jwt_client, token_url)))
    body = assert_token_response(response)
    api = await http.get(
        "/api/connect/orders/appointment-cancellations/requests/1",
        headers={"Authorization": f"Bearer {body['access_token']}", "X-API-VERSION": "8"},
    )
    assert api.status_code == 404  # authenticated, and nothing of theirs has that id
    with_id = await http.post(
        "/oauth/token", data=jwt_form(assertion(jwt_client, token_url), client_id=jwt_client)
    )
    assert_token_response(with_id)


async def test_private_key_jwt_refusals(
    http: httpx.AsyncClient, api_server: str, jwt_client: str
) -> None:
    token_url = f"{api_server}/oauth/token"
    now = int(time.time())
    refused = {
        "wrong audience": assertion(jwt_client, "https://elsewhere.example/token"),
        "expired": assertion(jwt_client, token_url, exp=now - 600, iat=now - 700, nbf=now - 700),
        "not yet valid": assertion(jwt_client, token_url, nbf=now + 600, exp=now + 900),
        "issued in the future": assertion(jwt_client, token_url, iat=now + 600, exp=now + 900),
        "no exp": assertion(jwt_client, token_url, exp=None),
        "no jti": assertion(jwt_client, token_url, jti=None),
        "sub differs": assertion(jwt_client, token_url, sub="someone-else"),
        "unknown key": assertion(jwt_client, token_url, key=OTHER_KEY),
        "unknown client": assertion("cg_nobody", token_url),
        "not a jwt": "abc.def.ghi",
    }
    for reason, token in refused.items():
        response = await http.post("/oauth/token", data=jwt_form(token))
        assert response.status_code == 401, reason
        assert response.json()["error"] == "invalid_client", reason
    wrong_type = jwt_form(assertion(jwt_client, token_url))
    wrong_type["client_assertion_type"] = "urn:example:other"
    assert_oauth_error(await http.post("/oauth/token", data=wrong_type), 400, "invalid_request")


async def test_private_key_jwt_replay_is_refused(
    http: httpx.AsyncClient, api_server: str, jwt_client: str
) -> None:
    token = assertion(jwt_client, f"{api_server}/oauth/token")
    assert_token_response(await http.post("/oauth/token", data=jwt_form(token)))
    replay = await http.post("/oauth/token", data=jwt_form(token))
    assert_oauth_error(replay, 401, "invalid_client")
    assert "replay" in replay.json()["error_description"]


async def test_discovery_metadata(http: httpx.AsyncClient, api_server: str) -> None:
    response = await http.get("/.well-known/oauth-authorization-server")
    body = response.json()
    assert body["issuer"] == api_server
    assert body["token_endpoint"] == f"{api_server}/oauth/token"
    assert body["grant_types_supported"] == ["client_credentials"]
    # No authorization endpoint, so no response type (RFC 8414 §2 still requires the field).
    assert body["response_types_supported"] == []
    assert "authorization_endpoint" not in body
    assert set(body["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "private_key_jwt",
    }  # fmt: skip
    jwks = (await http.get(body["jwks_uri"].replace(api_server, ""))).json()
    assert jwks["keys"][0]["kty"] == "RSA" and "d" not in jwks["keys"][0]


async def test_secrets_are_stored_hashed(caller: Caller) -> None:
    from sqlalchemy import select

    from cancelgate.auth.models import ApiClient

    async with caller.db() as session:
        stored = (
            await session.execute(select(ApiClient).where(ApiClient.client_id == caller.client_id))
        ).scalar_one()
    assert stored.secret_hash is not None
    assert caller.client_secret not in stored.secret_hash
    assert len(stored.secret_hash) == 64
