"""Access tokens the Connect API must refuse, and private_key_jwt assertions replayed at once.

test_connect_conventions.py already refuses a malformed token, one expired an hour ago, one
signed by a foreign key and one with a mangled signature. These tests forge the tokens an
attacker would try. Each one is built by hand (base64url, RSA or HMAC) so that no JWT library
gets a chance to correct it, and a token built the same way with valid claims and the
installation's key is accepted: every refusal below is for the reason it names.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc.jwk import RSAKey
from sqlalchemy import update

from cancelgate.auth.models import ApiClient
from cancelgate.auth.tokens import AUDIENCE
from cancelgate.keys import InstanceKeys
from tests.api.checks import assert_error
from tests.api.conftest import Caller
from tests.api.test_oauth import assert_oauth_error, assertion, jwt_form
from tests.vectors import b64url

PROBE = "/api/connect/orders/appointment-cancellations/requests/1"
UNKNOWN_CLIENT_PK = 2**31 - 1


def segment(value: dict[str, Any]) -> str:
    """A JSON object as a compact-serialization segment."""
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unsegment(part: str) -> dict[str, Any]:
    """A compact-serialization segment back to its JSON object."""
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def private_key(key: RSAKey) -> rsa.RSAPrivateKey:
    """The cryptography key behind a joserfc RSA key."""
    loaded = serialization.load_pem_private_key(key.as_pem(private=True), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def rs256(key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS signed RSASSA-PKCS1-v1_5 SHA-256 with exactly this header and payload."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def hs256(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS MACed HMAC-SHA256 with this secret."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def claims_of(caller: Caller, **overrides: Any) -> dict[str, Any]:
    """The claims the token endpoint puts in this caller's tokens; None drops a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": str(caller.http.base_url).rstrip("/"), "sub": caller.client_id,
        "aud": AUDIENCE, "iat": now, "exp": now + 600, "jti": uuid.uuid4().hex,
        "tid": caller.tenant_id, "cid": caller.client_pk,
    }  # fmt: skip
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def minted(keys: InstanceKeys, claims: dict[str, Any]) -> str:
    """A token signed with the installation's own key, as the token endpoint signs them."""
    return rs256(private_key(keys.signing_key), {"alg": "RS256", "kid": keys.kid}, claims)


async def call_with(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get(PROBE, headers={"Authorization": f"Bearer {token}", "X-API-VERSION": "8"})


async def assert_refused(http: httpx.AsyncClient, token: str, case: str) -> None:
    """401 `client.access` with an RFC 6750 invalid_token challenge."""
    response = await call_with(http, token)
    assert response.status_code == 401, f"{case}: {response.status_code} {response.text}"
    assert_error(
        response, 401, "client.access", "unauthorized", "Bearer token is missing or invalid"
    )
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer") and 'error="invalid_token"' in challenge, case


async def assert_accepted(http: httpx.AsyncClient, token: str) -> None:
    """Authenticated: the tenant owns nothing with that id, so 404 (not 401)."""
    response = await call_with(http, token)
    assert_error(response, 404, "business.rule", "resource.not.found")


async def test_a_hand_minted_token_with_valid_claims_is_accepted(
    caller: Caller, keys: InstanceKeys
) -> None:
    """The control: the forging helpers below produce tokens the server accepts when valid."""
    await assert_accepted(caller.http, minted(keys, claims_of(caller)))
    await assert_accepted(caller.http, caller.token)


async def test_expired_or_exp_less_tokens_are_refused(caller: Caller, keys: InstanceKeys) -> None:
    """exp this very second, exp a second ago, no exp, or an exp that is not a number."""
    now = int(time.time())
    cases = {
        "expires now": claims_of(caller, iat=now - 600, exp=now),
        "expired a second ago": claims_of(caller, iat=now - 600, exp=now - 1),
        "no exp": claims_of(caller, exp=None),
        "exp is a string": claims_of(caller, exp=str(now + 600)),
    }
    for case, claims in cases.items():
        await assert_refused(caller.http, minted(keys, claims), case)


async def test_a_tampered_payload_is_refused(
    caller: Caller, other_caller: Caller, keys: InstanceKeys
) -> None:
    """Another tenant's (or a later exp's) claims under a genuine signature."""
    header, payload, signature = caller.token.split(".")
    claims = unsegment(payload)
    await assert_accepted(caller.http, caller.token)
    as_other = {
        **claims,
        "tid": other_caller.tenant_id,
        "cid": other_caller.client_pk,
        "sub": other_caller.client_id,
    }
    await assert_refused(
        caller.http, f"{header}.{segment(as_other)}.{signature}", "another tenant's claims"
    )
    await assert_refused(
        caller.http,
        f"{header}.{segment({**claims, 'tid': other_caller.tenant_id})}.{signature}",
        "tid only",
    )
    now = int(time.time())
    expired = minted(keys, claims_of(caller, iat=now - 3600, exp=now - 600))
    e_header, e_payload, e_signature = expired.split(".")
    revived = {**unsegment(e_payload), "exp": now + 3600}
    await assert_refused(
        caller.http, f"{e_header}.{segment(revived)}.{e_signature}", "exp pushed back"
    )
    retyped = segment({**unsegment(header), "typ": "at+jwt"})
    await assert_refused(caller.http, f"{retyped}.{payload}.{signature}", "header changed")
    await assert_refused(caller.http, f"{header}.{payload}.", "signature stripped")


async def test_a_token_signed_with_another_rsa_key_is_refused(
    caller: Caller, keys: InstanceKeys
) -> None:
    """Another RSA key, also under the installation key's kid, also with the key embedded."""
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = claims_of(caller)
    await assert_accepted(caller.http, minted(keys, claims))
    public = RSAKey.import_key(
        attacker.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).as_dict(private=False)
    headers: dict[str, dict[str, Any]] = {
        "no kid": {"alg": "RS256"},
        "the installation key's kid": {"alg": "RS256", "kid": keys.kid},
        "embedded jwk": {"alg": "RS256", "kid": keys.kid, "jwk": public},
        "jku to the attacker": {"alg": "RS256", "jku": "http://127.0.0.1:9/jwks.json"},
    }
    for case, header in headers.items():
        await assert_refused(caller.http, rs256(attacker, header, claims), case)


async def test_an_unsigned_alg_none_token_is_refused(caller: Caller) -> None:
    """`alg: none` (any spelling) with an empty signature, or with the real one left on."""
    claims = segment(claims_of(caller))
    genuine_signature = caller.token.rsplit(".", 1)[1]
    for alg in ("none", "None", "NONE", "nOnE"):
        header = segment({"alg": alg, "typ": "JWT"})
        await assert_refused(caller.http, f"{header}.{claims}.", f"alg {alg}")
        await assert_refused(
            caller.http, f"{header}.{claims}.{genuine_signature}", f"alg {alg}, signature kept"
        )
    caller_header = unsegment(caller.token.split(".")[0])
    header = segment({**caller_header, "alg": "none"})
    await assert_refused(caller.http, f"{header}.{caller.token.split('.')[1]}.", "kid kept")


async def test_hs256_keyed_with_the_public_key_is_refused(
    caller: Caller, http: httpx.AsyncClient, keys: InstanceKeys
) -> None:
    """Algorithm confusion: HMAC keyed with the public key everyone can fetch from the JWKS."""
    jwks = (await http.get("/.well-known/jwks.json")).json()
    public = RSAKey.import_key(jwks["keys"][0])
    assert public.thumbprint() == keys.kid
    spki = public.as_pem(private=False)
    pkcs1 = private_key(keys.signing_key).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
    )  # fmt: skip
    claims = claims_of(caller)
    secrets = {
        "SPKI PEM": spki,
        "SPKI PEM without its final newline": spki.rstrip(b"\n"),
        "PKCS#1 PEM": pkcs1,
        "the JWKS as JSON": json.dumps(jwks).encode(),
    }
    for case, secret in secrets.items():
        for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "kid": keys.kid}):
            await assert_refused(caller.http, hs256(secret, header, claims), case)


async def test_a_token_for_another_audience_is_refused(caller: Caller, keys: InstanceKeys) -> None:
    """aud must be this API's: not another one, not the token endpoint, not absent."""
    cases = {
        "another API": claims_of(caller, aud="another-api"),
        "the token endpoint": claims_of(caller, aud="http://127.0.0.1/oauth/token"),
        "no aud": claims_of(caller, aud=None),
    }
    for case, claims in cases.items():
        await assert_refused(caller.http, minted(keys, claims), case)


async def test_a_token_must_name_an_enabled_client_of_its_tenant(
    caller: Caller, other_caller: Caller, keys: InstanceKeys
) -> None:
    """Even under our own signature: tid and cid must agree, and the client must be enabled."""
    cases = {
        "the caller's client in another tenant": claims_of(caller, tid=other_caller.tenant_id),
        "another tenant's client in the caller's tenant": claims_of(
            caller, cid=other_caller.client_pk
        ),
        "a client that does not exist": claims_of(caller, cid=UNKNOWN_CLIENT_PK),
        "no tid": claims_of(caller, tid=None),
        "no cid": claims_of(caller, cid=None),
        "cid as a string": claims_of(caller, cid=str(caller.client_pk)),
    }
    for case, claims in cases.items():
        await assert_refused(caller.http, minted(keys, claims), case)
    await assert_accepted(caller.http, caller.token)
    async with caller.db() as session:
        await session.execute(
            update(ApiClient).where(ApiClient.id == caller.client_pk).values(enabled=False)
        )
        await session.commit()
    await assert_refused(caller.http, caller.token, "the client was disabled after issuance")
    await assert_accepted(other_caller.http, other_caller.token)


async def test_a_new_assertion_reusing_a_jti_is_refused(
    http: httpx.AsyncClient, api_server: str, jwt_client: str
) -> None:
    """Replay protection is by jti, not by the assertion's bytes."""
    token_url = f"{api_server}/oauth/token"
    jti = uuid.uuid4().hex
    first = await http.post(
        "/oauth/token", data=jwt_form(assertion(jwt_client, token_url, jti=jti))
    )
    assert first.status_code == 200, first.text
    now = int(time.time())
    fresh_bytes = assertion(jwt_client, token_url, jti=jti, exp=now + 120, iat=now - 1)
    replay = await http.post("/oauth/token", data=jwt_form(fresh_bytes))
    assert_oauth_error(replay, 401, "invalid_client")
    assert "replay" in replay.json()["error_description"]


async def test_an_assertion_replayed_concurrently_is_honoured_once(
    http: httpx.AsyncClient, api_server: str, jwt_client: str
) -> None:
    """Ten simultaneous token requests with one assertion: exactly one access token."""
    token = assertion(jwt_client, f"{api_server}/oauth/token")
    responses = await asyncio.gather(
        *(http.post("/oauth/token", data=jwt_form(token)) for _ in range(10))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 9, [(r.status_code, r.text) for r in responses]
    for response in responses:
        if response.status_code == 401:
            assert_oauth_error(response, 401, "invalid_client")
            assert "replay" in response.json()["error_description"]
    [winner] = [r for r in responses if r.status_code == 200]
    await assert_accepted(http, winner.json()["access_token"])
