"""The UX error envelope, channel-client business units and the X-Correlation-ID header."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cancelgate.ux.clients import parse_business_units
from cancelgate.ux.errors import (
    MALFORMED,
    UxError,
    bad_request,
    internal_error,
    is_ux_path,
    method_not_allowed,
    not_found,
    not_implemented,
    unauthorized,
)
from cancelgate.ux.middleware import correlation_id

# --- the error envelope --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "status", "message", "description"),
    [
        pytest.param(
            bad_request,
            400,
            "The request is invalid or not properly formed.",
            "Malformed request syntax, invalid request message framing, "
            "or deceptive request routing.",
            id="400",
        ),
        pytest.param(
            unauthorized,
            401,
            "The user could not be authenticated for this request.",
            "The request has not been applied because it lacks valid authentication "
            "credentials for the target resource.",
            id="401",
        ),
        pytest.param(
            not_found,
            404,
            "The server could not find the requested resource.",
            "The requested operation failed because a resource associated with the request "
            "could not be found.",
            id="404",
        ),
        pytest.param(
            lambda: method_not_allowed("POST"),
            405,
            "APIKIT:METHOD_NOT_ALLOWED",
            "HTTP Method POST not allowed for : /{businessId}/appointment/{id}",
            id="405",
        ),
        pytest.param(
            internal_error,
            500,
            "Internal Server Error",
            "The request failed due to an internal error.",
            id="500",
        ),
        pytest.param(
            lambda: not_implemented("GET", "PR"),
            501,
            "Not implemented",
            "Operation GET /appointment/{id} for Business Id: PR not implemented",
            id="501",
        ),
    ],
)
def test_constructors_word_errors_as_the_seed(
    make: Callable[[], UxError], status: int, message: str, description: str
) -> None:
    error = make()
    assert isinstance(error, UxError)
    assert (error.status, error.message, error.description) == (status, message, description)
    assert str(error) == description

    response = error.response()
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert json.loads(bytes(response.body)) == {
        "errors": [{"code": status, "message": message, "description": description}]
    }


def test_malformed_is_the_default_400_description() -> None:
    assert bad_request().description == MALFORMED
    assert MALFORMED == (
        "Malformed request syntax, invalid request message framing, or deceptive request routing."
    )


def test_bad_request_carries_a_given_description() -> None:
    error = bad_request("Invalid field 'status': must be 'cancelled'")
    body = json.loads(bytes(error.response().body))
    assert body["errors"][0] == {
        "code": 400,
        "message": "The request is invalid or not properly formed.",
        "description": "Invalid field 'status': must be 'cancelled'",
    }


def test_error_code_is_a_json_number() -> None:
    body = json.loads(bytes(not_found().response().body))
    assert isinstance(body["errors"][0]["code"], int)
    assert list(body) == ["errors"]
    assert len(body["errors"]) == 1
    assert list(body["errors"][0]) == ["code", "message", "description"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_method_not_allowed_sets_allow_header(method: str) -> None:
    error = method_not_allowed(method)
    assert error.headers == {"Allow": "GET, PATCH"}
    assert (
        error.description
        == f"HTTP Method {method} not allowed for : /{{businessId}}/appointment/{{id}}"
    )
    response = error.response()
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PATCH"


@pytest.mark.parametrize(
    "make",
    [bad_request, unauthorized, not_found, internal_error, lambda: not_implemented("GET", "PR")],
)
def test_other_errors_have_no_allow_header(make: Callable[[], UxError]) -> None:
    error = make()
    assert error.headers == {}
    assert "allow" not in error.response().headers


def test_errors_do_not_share_a_headers_dict() -> None:
    first, second = bad_request(), bad_request()
    first.headers["X-Test"] = "1"
    assert second.headers == {}


def test_not_implemented_names_method_and_business_unit() -> None:
    assert not_implemented("PATCH", "US").description == (
        "Operation PATCH /appointment/{id} for Business Id: US not implemented"
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ecom-ux/PR/appointment/123", True),
        ("/ecom-ux/", True),
        ("/ecom-ux/docs", True),
        ("/ecom-ux", False),
        ("/ecom-uxx/PR/appointment/1", False),
        ("/ECOM-UX/PR/appointment/1", False),
        ("/api/ecom-ux/PR/appointment/1", False),
        ("/health", False),
        ("", False),
    ],
)
def test_is_ux_path(path: str, expected: bool) -> None:
    assert is_ux_path(path) is expected


# --- business units ------------------------------------------------------------------------

CONFIGURED = frozenset({"PR", "US", "VI"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PR", ["PR"]),
        ("pr", ["PR"]),
        (" pr ", ["PR"]),
        ("us,pr", ["PR", "US"]),
        ("VI, us ,Pr", ["PR", "US", "VI"]),
        ("PR,pr, Pr", ["PR"]),
        ("PR,,US,", ["PR", "US"]),
    ],
)
def test_parse_business_units(text: str, expected: list[str]) -> None:
    assert parse_business_units(text, CONFIGURED) == expected


@pytest.mark.parametrize("text", ["", " ", ",", " , ,", "XX", "PR,XX", "P R", "PRUS", "PR;US"])
def test_parse_business_units_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"business units must be among PR, US, VI") as caught:
        parse_business_units(text, CONFIGURED)
    assert repr(text) in str(caught.value)


def test_parse_business_units_with_nothing_configured() -> None:
    with pytest.raises(ValueError):
        parse_business_units("PR", frozenset())


# --- X-Correlation-ID ----------------------------------------------------------------------


def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    """An ASGI scope holding just these headers."""
    return {"headers": list(headers)}


@pytest.mark.parametrize(
    "value",
    [
        "abc-123",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "!",
        "~" * 200,
        "a/b:c=d?e&f",
    ],
)
def test_correlation_id_present(value: str) -> None:
    assert correlation_id(scope((b"x-correlation-id", value.encode()))) == value


def test_correlation_id_among_other_headers() -> None:
    found = correlation_id(
        scope(
            (b"host", b"example.test"),
            (b"x-correlation-id", b"corr-1"),
            (b"content-type", b"application/json"),
        )
    )
    assert found == "corr-1"


def test_correlation_id_header_name_is_case_insensitive() -> None:
    assert correlation_id(scope((b"X-Correlation-ID", b"corr-1"))) == "corr-1"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="missing"),
        pytest.param([(b"x-request-id", b"corr-1")], id="other-header"),
        pytest.param(
            [(b"x-correlation-id", b"corr-1"), (b"x-correlation-id", b"corr-1")],
            id="duplicated-same",
        ),
        pytest.param(
            [(b"x-correlation-id", b"corr-1"), (b"x-correlation-id", b"corr-2")],
            id="duplicated-different",
        ),
        pytest.param([(b"x-correlation-id", b"")], id="empty"),
        pytest.param([(b"x-correlation-id", b"a" * 201)], id="too-long"),
        pytest.param([(b"x-correlation-id", b"corr 1")], id="inner-space"),
        pytest.param([(b"x-correlation-id", b" corr-1")], id="leading-space"),
        pytest.param([(b"x-correlation-id", b"corr-1\t")], id="tab"),
        pytest.param([(b"x-correlation-id", b"corr\n1")], id="newline"),
        pytest.param([(b"x-correlation-id", b"corr\r\n1")], id="crlf"),
        pytest.param([(b"x-correlation-id", b"corr\x00")], id="nul"),
        pytest.param([(b"x-correlation-id", b"corr\x7f")], id="del"),
        pytest.param([(b"x-correlation-id", "corr-é".encode())], id="non-ascii-utf8"),
        pytest.param([(b"x-correlation-id", b"corr-\xe9")], id="non-ascii-latin1"),
    ],
)
def test_correlation_id_absent_or_malformed(headers: list[tuple[bytes, bytes]]) -> None:
    assert correlation_id(scope(*headers)) is None


def test_correlation_id_without_headers_key() -> None:
    assert correlation_id({}) is None
