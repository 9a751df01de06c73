"""Client secrets at rest, and our own RS256 access tokens."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from cancelgate.auth.secrets import (
    hash_secret,
    new_client_id,
    new_client_secret,
    verify_secret,
)
from cancelgate.auth.tokens import (
    AUDIENCE,
    Expected,
    InvalidToken,
    TokenClaims,
    issue_access_token,
    verify_access_token,
)
from cancelgate.keys import InstanceKeys
from tests.vectors import b64url

PEPPER = b"x" * 32
KEYS = InstanceKeys(signing_key=RSAKey.generate_key(2048), pepper=PEPPER, sealing_key=b"s" * 32)
OTHER_KEYS = InstanceKeys(
    signing_key=RSAKey.generate_key(2048), pepper=PEPPER, sealing_key=b"s" * 32
)
NOW = 1_700_000_000
ISSUER = "https://cancelgate.example"
EXPECTED = Expected(issuer=ISSUER, max_lifetime_seconds=3000, leeway_seconds=60)


def issue(keys: InstanceKeys = KEYS, *, lifetime: int = 300, now: int = NOW) -> str:
    return issue_access_token(
        keys,
        issuer=ISSUER,
        tenant_id=4,
        client_pk=9,
        client_id="cg_abc",
        lifetime_seconds=lifetime,
        now=now,
    )


def sign(claims: dict[str, Any], keys: InstanceKeys = KEYS) -> str:
    return jwt.encode({"alg": "RS256", "kid": keys.kid}, claims, keys.signing_key, ["RS256"])


def good_claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "cg_abc",
        "aud": AUDIENCE,
        "iat": NOW,
        "exp": NOW + 300,
        "jti": "j",
        "tid": 4,
        "cid": 9,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


# --- secrets -----------------------------------------------------------------------------------


def test_hash_is_hmac_sha256_hex_under_the_pepper() -> None:
    expected = hmac.new(PEPPER, b"s3cret", hashlib.sha256).hexdigest()
    assert hash_secret(PEPPER, "s3cret") == expected
    assert len(expected) == 64


def test_hash_depends_on_pepper_and_secret() -> None:
    assert hash_secret(PEPPER, "a") != hash_secret(b"y" * 32, "a")
    assert hash_secret(PEPPER, "a") != hash_secret(PEPPER, "b")
    assert hash_secret(PEPPER, "a") != "a"


def test_verify_right_secret() -> None:
    assert verify_secret(PEPPER, "s3cret", hash_secret(PEPPER, "s3cret")) is True


def test_verify_wrong_secret() -> None:
    assert verify_secret(PEPPER, "s3creT", hash_secret(PEPPER, "s3cret")) is False


def test_verify_wrong_pepper() -> None:
    assert verify_secret(b"y" * 32, "s3cret", hash_secret(PEPPER, "s3cret")) is False


@pytest.mark.parametrize("stored", [None, ""])
def test_verify_without_a_stored_hash(stored: str | None) -> None:
    assert verify_secret(PEPPER, "", stored) is False
    assert verify_secret(PEPPER, "s3cret", stored) is False


def test_verify_non_ascii_secret() -> None:
    assert verify_secret(PEPPER, "pässwörd", hash_secret(PEPPER, "pässwörd")) is True


def test_new_client_ids_and_secrets() -> None:
    client_id = new_client_id()
    assert client_id.startswith("cg_")
    assert len(client_id) == 23
    int(client_id[3:], 16)
    assert new_client_id() != client_id
    secret = new_client_secret()
    assert len(secret) >= 43
    assert new_client_secret() != secret


# --- access tokens -----------------------------------------------------------------------------


def test_round_trip() -> None:
    claims = verify_access_token(KEYS, issue(), EXPECTED, now=NOW + 1)
    assert claims == TokenClaims(tenant_id=4, client_pk=9, client_id="cg_abc", expires_at=NOW + 300)


def test_token_header_and_claims() -> None:
    token = issue()
    decoded = jwt.decode(token, KEYS.signing_key, algorithms=["RS256"])
    assert decoded.header["alg"] == "RS256"
    assert decoded.header["kid"] == KEYS.kid
    claims = decoded.claims
    assert claims["iss"] == "https://cancelgate.example"
    assert claims["aud"] == "cancelgate-api"
    assert claims["iat"] == NOW
    assert claims["exp"] == NOW + 300
    assert len(claims["jti"]) == 32


def test_each_token_has_a_fresh_jti() -> None:
    first = jwt.decode(issue(), KEYS.signing_key).claims["jti"]
    second = jwt.decode(issue(), KEYS.signing_key).claims["jti"]
    assert first != second


def test_default_now_is_the_clock() -> None:
    token = issue_access_token(
        KEYS, issuer=ISSUER, tenant_id=1, client_pk=2, client_id="c", lifetime_seconds=60
    )
    claims = verify_access_token(KEYS, token, EXPECTED)
    assert abs(claims.expires_at - (int(time.time()) + 60)) <= 5


def test_public_jwks_verifies_the_token() -> None:
    jwks = KEYS.public_jwks()
    keys = jwks["keys"]
    assert isinstance(keys, list)
    (public,) = keys
    assert isinstance(public, dict)
    assert "d" not in public
    assert public["kid"] == KEYS.kid
    assert public["alg"] == "RS256"
    public_keys = InstanceKeys(
        signing_key=RSAKey.import_key(public), pepper=PEPPER, sealing_key=b"s" * 32
    )
    assert verify_access_token(public_keys, issue(), EXPECTED, now=NOW).tenant_id == 4


def test_expired_token() -> None:
    token = issue(lifetime=300)
    with pytest.raises(InvalidToken, match="expired"):
        verify_access_token(KEYS, token, EXPECTED, now=NOW + 300)
    with pytest.raises(InvalidToken, match="expired"):
        verify_access_token(KEYS, token, EXPECTED, now=NOW + 10_000)
    assert verify_access_token(KEYS, token, EXPECTED, now=NOW + 299).expires_at == NOW + 300


def test_signed_by_another_key() -> None:
    with pytest.raises(InvalidToken, match="not signed by this server"):
        verify_access_token(KEYS, issue(OTHER_KEYS), EXPECTED, now=NOW)


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c", "eyJhbGciOiJub25lIn0.e30."])
def test_garbage(token: str) -> None:
    with pytest.raises(InvalidToken):
        verify_access_token(KEYS, token, EXPECTED, now=NOW)


def test_tampered_payload() -> None:
    header, _, signature = issue().split(".")
    other_payload = issue(now=NOW + 1).split(".")[1]
    with pytest.raises(InvalidToken):
        verify_access_token(KEYS, f"{header}.{other_payload}.{signature}", EXPECTED, now=NOW)


@pytest.mark.parametrize("aud", ["other-api", ["cancelgate-api"], None])
def test_wrong_audience(aud: Any) -> None:
    token = sign(good_claims(aud=aud))
    with pytest.raises(InvalidToken, match="not meant for this API"):
        verify_access_token(KEYS, token, EXPECTED, now=NOW)


def test_audience_check_is_what_rejects() -> None:
    assert verify_access_token(KEYS, sign(good_claims()), EXPECTED, now=NOW).client_id == "cg_abc"


@pytest.mark.parametrize(
    "changes",
    [{"tid": None}, {"cid": None}, {"sub": None}, {"tid": "4"}, {"cid": 9.5}, {"sub": 5}],
)
def test_token_that_does_not_name_a_client(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken, match="does not name a client"):
        verify_access_token(KEYS, sign(good_claims(**changes)), EXPECTED, now=NOW)


@pytest.mark.parametrize("exp", [None, "9999999999", float(NOW + 300)])
def test_exp_must_be_an_integer(exp: Any) -> None:
    with pytest.raises(InvalidToken, match="expired"):
        verify_access_token(KEYS, sign(good_claims(exp=exp)), EXPECTED, now=NOW)


def test_hs256_token_with_the_public_key_as_secret_is_rejected() -> None:
    public_pem = KEYS.signing_key.as_pem(private=False)
    header = b64url(json.dumps({"alg": "HS256", "kid": KEYS.kid}).encode())
    payload = b64url(json.dumps(good_claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken):
        verify_access_token(KEYS, f"{header}.{payload}.{b64url(signature)}", EXPECTED, now=NOW)


def test_alg_none_token_is_rejected() -> None:
    header = b64url(json.dumps({"alg": "none"}).encode())
    payload = b64url(json.dumps(good_claims()).encode())
    with pytest.raises(InvalidToken):
        verify_access_token(KEYS, f"{header}.{payload}.", EXPECTED, now=NOW)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        # Signed with our key, but for another issuer (another deployment's URL, a
        # misconfigured public URL): not ours to honour.
        ({"iss": "https://elsewhere.example"}, "not issued by https://cancelgate.example"),
        ({"iss": None}, "not issued by https://cancelgate.example"),
        # Not valid before a time still ahead (past the tolerated skew).
        ({"nbf": NOW + 61}, "not valid yet"),
        ({"nbf": "0"}, "not valid yet"),
        # Issued in the future: a clock or a key gone wrong.
        ({"iat": NOW + 61, "exp": NOW + 361}, "in the future"),
        ({"iat": None}, "in the future"),
        # Longer-lived than anything we issue (3000 s here).
        ({"iat": NOW - 10, "exp": NOW + 2991}, "lives longer"),
    ],
)
def test_a_token_breaking_one_rule_is_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason):
        verify_access_token(KEYS, sign(good_claims(**changes)), EXPECTED, now=NOW)


@pytest.mark.parametrize(
    "changes",
    [
        {"nbf": NOW + 60},  # within the skew
        {"iat": NOW + 60, "exp": NOW + 360},  # within the skew
        {"iat": NOW - 10, "exp": NOW + 2990},  # exactly the longest lifetime
    ],
)
def test_the_edges_of_each_rule_are_accepted(changes: dict[str, Any]) -> None:
    assert verify_access_token(KEYS, sign(good_claims(**changes)), EXPECTED, now=NOW).tenant_id == 4
