"""Parsing a token request: the form body and HTTP Basic client credentials."""

from __future__ import annotations

import base64

import pytest

from cancelgate.auth.oauth_errors import OAuthError
from cancelgate.auth.token_endpoint import FORM, basic_credentials, parse_form


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


# --- parse_form --------------------------------------------------------------------------------


def test_form_media_type() -> None:
    assert FORM == "application/x-www-form-urlencoded"


def test_normal_form() -> None:
    body = b"grant_type=client_credentials&client_id=cg_1&client_secret=a%2Bb+c"
    assert parse_form(FORM, body) == {
        "grant_type": "client_credentials",
        "client_id": "cg_1",
        "client_secret": "a+b c",
    }


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
        " application/x-www-form-urlencoded ",
    ],
)
def test_form_content_type_variants(content_type: str) -> None:
    assert parse_form(content_type, b"grant_type=x") == {"grant_type": "x"}


def test_blank_values_are_kept() -> None:
    assert parse_form(FORM, b"scope=&grant_type=x") == {"scope": "", "grant_type": "x"}


def test_empty_body() -> None:
    assert parse_form(FORM, b"") == {}


@pytest.mark.parametrize(
    "content_type", ["application/json", "multipart/form-data", "text/plain", None, ""]
)
def test_wrong_content_type(content_type: str | None) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_form(content_type, b"grant_type=client_credentials")
    assert caught.value.error == "invalid_request"
    assert caught.value.status == 400
    assert caught.value.description == (
        "the token request must be sent as application/x-www-form-urlencoded"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=client_credentials&grant_type=client_credentials",
        b"grant_type=a&client_id=x&grant_type=b",
        b"grant_type=a&grant_type=",
    ],
)
def test_repeated_parameter(body: bytes) -> None:
    with pytest.raises(OAuthError) as caught:
        parse_form(FORM, body)
    assert caught.value.error == "invalid_request"
    assert caught.value.status == 400
    assert caught.value.description == "the parameter grant_type is repeated"


def test_undecodable_body() -> None:
    with pytest.raises(OAuthError) as caught:
        parse_form(FORM, b"grant_type=\xff")
    assert caught.value.error == "invalid_request"
    assert caught.value.description == "the form body cannot be read"


# --- basic_credentials -------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "Bearer x", "Digest abc", "Basic", "Basicabc"])
def test_not_basic(header: str | None) -> None:
    assert basic_credentials(header) is None


def test_valid_basic() -> None:
    assert basic_credentials(basic("cg_1:s3cret")) == ("cg_1", "s3cret")


def test_scheme_is_case_insensitive() -> None:
    encoded = base64.b64encode(b"cg_1:s3cret").decode()
    assert basic_credentials("basic " + encoded) == ("cg_1", "s3cret")
    assert basic_credentials("BASIC " + encoded) == ("cg_1", "s3cret")


def test_url_encoded_id_and_secret_are_decoded() -> None:
    assert basic_credentials(basic("my%3Aclient:p%3Ass%2Bw+rd%25")) == ("my:client", "p:ss+w rd%")


def test_secret_may_contain_a_colon() -> None:
    assert basic_credentials(basic("cg_1:a:b")) == ("cg_1", "a:b")


def test_empty_secret() -> None:
    assert basic_credentials(basic("cg_1:")) == ("cg_1", "")


def test_surrounding_whitespace_of_the_credentials_is_ignored() -> None:
    encoded = base64.b64encode(b"cg_1:s").decode()
    assert basic_credentials(f"Basic   {encoded}  ") == ("cg_1", "s")


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!notbase64!!!",
        "Basic abc",
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic ",
    ],
)
def test_undecodable_basic(header: str) -> None:
    with pytest.raises(OAuthError) as caught:
        basic_credentials(header)
    assert caught.value.error == "invalid_client"
    assert caught.value.status == 401
    assert caught.value.description == "the Basic credentials cannot be decoded"


def test_invalid_client_response_has_basic_challenge() -> None:
    with pytest.raises(OAuthError) as caught:
        basic_credentials("Basic abc")
    response = caught.value.response()
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="cancelgate"'
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
