"""private_key_jwt client assertions and the JWK Sets clients register."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from cancelgate.auth.assertions import (
    ASSERTION_TYPE,
    InvalidAssertion,
    VerifiedAssertion,
    unverified_issuer,
    verify_assertion,
)
from cancelgate.auth.clients import validate_jwks
from tests.vectors import b64url

KEY = RSAKey.generate_key(2048)
OTHER_KEY = RSAKey.generate_key(2048)
PUBLIC = {**KEY.as_dict(private=False), "kid": "k1"}
JWKS: dict[str, Any] = {"keys": [PUBLIC]}

CLIENT = "cg_client"
AUD = "https://cancelgate.example/oauth2/token"
NOW = 1_700_000_000
SKEW = 30
MAX_LIFETIME = 300


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": AUD,
        "iat": NOW,
        "exp": NOW + 60,
        "jti": "jti-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: RSAKey = KEY, kid: str = "k1") -> str:
    return jwt.encode({"alg": "RS256", "kid": kid}, payload, key)


def verify(assertion: str, jwks: dict[str, Any] | None = None, **kw: Any) -> VerifiedAssertion:
    args: dict[str, Any] = {
        "client_id": CLIENT,
        "audiences": {AUD},
        "now": NOW,
        "skew": SKEW,
        "max_lifetime": MAX_LIFETIME,
    }
    args.update(kw)
    return verify_assertion(assertion, JWKS if jwks is None else jwks, **args)


def b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return b64url(raw)


def test_assertion_type() -> None:
    assert ASSERTION_TYPE == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_valid_assertion() -> None:
    verified = verify(sign(claims()))
    assert verified == VerifiedAssertion(
        client_id=CLIENT,
        jti="jti-1",
        expires_at=datetime.fromtimestamp(NOW + 60 + SKEW, UTC),
    )


def test_aud_may_be_a_list_containing_the_endpoint() -> None:
    assert verify(sign(claims(aud=["https://elsewhere", AUD]))).jti == "jti-1"


def test_any_of_the_accepted_audiences() -> None:
    issuer = "https://cancelgate.example"
    assert verify(sign(claims(aud=issuer)), audiences={AUD, issuer}).client_id == CLIENT


def test_kid_is_optional_with_a_single_key() -> None:
    token = jwt.encode({"alg": "RS256"}, claims(), KEY)
    assert verify(token).client_id == CLIENT


@pytest.mark.parametrize("aud", ["https://elsewhere", ["https://elsewhere"], [], None])
def test_wrong_audience(aud: Any) -> None:
    with pytest.raises(InvalidAssertion, match="aud is not this token endpoint"):
        verify(sign(claims(aud=aud)))


@pytest.mark.parametrize(
    "changes",
    [{"sub": "someone-else"}, {"iss": "someone-else"}, {"sub": None}, {"iss": None}],
)
def test_iss_and_sub_must_be_the_client(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidAssertion, match="iss and sub must both be the client id"):
        verify(sign(claims(**changes)))


def test_assertion_for_another_client_id() -> None:
    with pytest.raises(InvalidAssertion, match="iss and sub"):
        verify(sign(claims()), client_id="cg_other")


def test_expired() -> None:
    with pytest.raises(InvalidAssertion, match="has expired"):
        verify(sign(claims(iat=NOW - 600, exp=NOW - SKEW)))


def test_expired_within_skew_is_still_accepted() -> None:
    assert verify(sign(claims(iat=NOW - 100, exp=NOW - SKEW + 1))).jti == "jti-1"


def test_missing_exp() -> None:
    with pytest.raises(InvalidAssertion, match="has no exp claim"):
        verify(sign(claims(exp=None)))


@pytest.mark.parametrize("exp", ["1700000060", True, [NOW + 60]])
def test_exp_not_a_number(exp: Any) -> None:
    with pytest.raises(InvalidAssertion, match="the exp claim is not a number"):
        verify(sign(claims(exp=exp)))


def test_exp_as_float_is_accepted() -> None:
    assert verify(sign(claims(exp=NOW + 60.5))).expires_at == datetime.fromtimestamp(
        NOW + 60 + SKEW, UTC
    )


def test_exp_too_far_in_the_future() -> None:
    with pytest.raises(InvalidAssertion, match="lives too long"):
        verify(sign(claims(exp=NOW + MAX_LIFETIME + SKEW + 1)))


def test_exp_at_the_lifetime_limit_is_accepted() -> None:
    assert verify(sign(claims(exp=NOW + MAX_LIFETIME + SKEW))).jti == "jti-1"


@pytest.mark.parametrize("name", ["nbf", "iat"])
def test_not_valid_yet(name: str) -> None:
    with pytest.raises(InvalidAssertion, match=rf"not valid yet \({name}\)"):
        verify(sign(claims(**{name: NOW + SKEW + 1})))


@pytest.mark.parametrize("name", ["nbf", "iat"])
def test_future_within_skew_is_accepted(name: str) -> None:
    assert verify(sign(claims(**{name: NOW + SKEW}))).jti == "jti-1"


def test_iat_is_optional() -> None:
    assert verify(sign(claims(iat=None))).jti == "jti-1"


@pytest.mark.parametrize("name", ["nbf", "iat"])
def test_nbf_iat_must_be_numbers(name: str) -> None:
    with pytest.raises(InvalidAssertion, match=f"the {name} claim is not a number"):
        verify(sign(claims(**{name: "soon"})))


@pytest.mark.parametrize("jti", [None, "", 42, "x" * 201])
def test_unusable_jti(jti: Any) -> None:
    with pytest.raises(InvalidAssertion, match="no usable jti claim"):
        verify(sign(claims(jti=jti)))


def test_jti_of_200_characters_is_accepted() -> None:
    assert verify(sign(claims(jti="x" * 200))).jti == "x" * 200


def test_signed_by_an_unknown_key() -> None:
    with pytest.raises(InvalidAssertion, match="not signed by a key of the client"):
        verify(sign(claims(), key=OTHER_KEY))


def test_signed_by_unknown_key_claiming_the_known_kid() -> None:
    with pytest.raises(InvalidAssertion, match="not signed by a key of the client"):
        verify(sign(claims(), key=OTHER_KEY, kid="k1"))


def test_unknown_kid() -> None:
    with pytest.raises(InvalidAssertion, match="not signed by a key of the client"):
        verify(sign(claims(), kid="k2"))


def test_second_key_of_the_client_is_used() -> None:
    other_public = {**OTHER_KEY.as_dict(private=False), "kid": "k2"}
    jwks = {"keys": [PUBLIC, other_public]}
    assert verify(sign(claims(), key=OTHER_KEY, kid="k2"), jwks=jwks).jti == "jti-1"


def test_hs256_is_not_accepted() -> None:
    secret = OctKey.generate_key(256)
    token = jwt.encode({"alg": "HS256", "kid": "k1"}, claims(), secret, ["HS256"])
    with pytest.raises(InvalidAssertion, match="not signed by a key of the client"):
        verify(token)


def test_none_is_not_accepted() -> None:
    token = f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}."
    with pytest.raises(InvalidAssertion, match="not signed by a key of the client"):
        verify(token)


@pytest.mark.parametrize("jwks", [{}, {"keys": "x"}, {"keys": [{"kty": "RSA"}]}])
def test_unusable_registered_jwks(jwks: dict[str, Any]) -> None:
    with pytest.raises(InvalidAssertion, match="not signed by a key of the client"):
        verify(sign(claims()), jwks=jwks)


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c"])
def test_garbage_assertion(token: str) -> None:
    with pytest.raises(InvalidAssertion):
        verify(token)


@pytest.mark.parametrize("aud", [{"a": 1}, [{"a": 1}]])
def test_unhashable_aud_is_an_invalid_assertion(aud: Any) -> None:
    with pytest.raises(InvalidAssertion):
        verify(sign(claims(aud=aud)))


# --- unverified_issuer -------------------------------------------------------------------------


def test_unverified_issuer() -> None:
    assert unverified_issuer(sign(claims())) == CLIENT


def test_unverified_issuer_does_not_check_the_signature() -> None:
    assert unverified_issuer(sign(claims(iss="cg_x"), key=OTHER_KEY)) == "cg_x"


@pytest.mark.parametrize("token", ["garbage", "", "a.b.c", f"{b64({'alg': 'none'})}.!!!."])
def test_unverified_issuer_of_a_non_jwt(token: str) -> None:
    with pytest.raises(InvalidAssertion, match="is not a JWT"):
        unverified_issuer(token)


@pytest.mark.parametrize("payload", [[1], {"iss": ""}, {"iss": 5}, {"sub": "x"}, "iss"])
def test_unverified_issuer_without_a_usable_iss(payload: Any) -> None:
    token = f"{b64({'alg': 'RS256'})}.{b64(payload)}.{b64(b'sig')}"
    with pytest.raises(InvalidAssertion, match="has no iss claim"):
        unverified_issuer(token)


# --- validate_jwks -----------------------------------------------------------------------------


def test_public_rsa_jwks_is_valid() -> None:
    validate_jwks(JWKS)
    validate_jwks({"keys": [PUBLIC, {**OTHER_KEY.as_dict(private=False), "kid": "k2"}]})


def test_private_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="public keys only"):
        validate_jwks({"keys": [KEY.as_dict(private=True)]})


def test_a_private_key_among_public_ones_is_rejected() -> None:
    with pytest.raises(ValueError, match="public keys only"):
        validate_jwks({"keys": [PUBLIC, OTHER_KEY.as_dict(private=True)]})


@pytest.mark.parametrize(
    "key",
    [
        ECKey.generate_key("P-256").as_dict(private=False),
        OctKey.generate_key(256).as_dict(),
    ],
    ids=["ec", "oct"],
)
def test_non_rsa_keys_are_rejected(key: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="only RSA keys"):
        validate_jwks({"keys": [PUBLIC, key]})


@pytest.mark.parametrize(
    "jwks",
    [{}, {"keys": []}, {"keys": "x"}, {"keys": [{"kty": "RSA"}]}, {"keys": [{"kty": "nope"}]}],
)
def test_garbage_is_rejected(jwks: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        validate_jwks(jwks)
