"""X-API-VERSION negotiation."""

from __future__ import annotations

import pytest

from cancelgate.connect.errors import ConnectError
from cancelgate.connect.versions import (
    APPOINTMENT_CANCELLATION_VERSIONS,
    DEPRECATED_VERSIONS,
    negotiate,
    version_error,
)

VERSIONS = APPOINTMENT_CANCELLATION_VERSIONS
SUPPORTED = "1, 2, 3, 4, 5, 6, 7, 8"


def test_the_endpoint_serves_versions_one_to_eight() -> None:
    assert list(VERSIONS) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert frozenset({1, 2}) == DEPRECATED_VERSIONS


@pytest.mark.parametrize("version", range(1, 9))
def test_each_supported_version_is_accepted(version: int) -> None:
    assert negotiate(str(version), VERSIONS) == version


@pytest.mark.parametrize("raw", [" 8 ", "8 ", " 8", "\t8"])
def test_surrounding_whitespace_is_ignored(raw: str) -> None:
    assert negotiate(raw, VERSIONS) == 8


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_missing_header(raw: str | None) -> None:
    with pytest.raises(ConnectError) as caught:
        negotiate(raw, VERSIONS)
    error = caught.value
    assert error.status == 400
    assert error.type == "client.validation"
    assert error.code == "missing.request.header"
    assert error.message == (
        f"Required request header 'X-API-VERSION' is missing; supported versions: {SUPPORTED}"
    )


@pytest.mark.parametrize("raw", ["0", "9", "abc", "-1", "+3", "3.0", "10", "1,2"])
def test_unsupported_version(raw: str) -> None:
    with pytest.raises(ConnectError) as caught:
        negotiate(raw, VERSIONS)
    error = caught.value
    assert error.status == 400
    assert error.type == "client.validation"
    assert error.code == "unsupported.api.version"
    assert error.message == (
        f"X-API-VERSION '{raw}' is not supported by this endpoint; supported versions: {SUPPORTED}"
    )


def test_unsupported_message_quotes_the_raw_value() -> None:
    with pytest.raises(ConnectError) as caught:
        negotiate(" 9 ", VERSIONS)
    assert "X-API-VERSION ' 9 ' is not supported" in caught.value.message


def test_supported_versions_are_listed_sorted() -> None:
    error = version_error("7", {5, 3, 4})
    assert error.message.endswith("supported versions: 3, 4, 5")


def test_a_version_outside_the_endpoint_set_is_refused() -> None:
    with pytest.raises(ConnectError) as caught:
        negotiate("1", {3, 4})
    assert caught.value.code == "unsupported.api.version"
    assert negotiate("4", {3, 4}) == 4


def test_superscript_digit_is_an_unsupported_version() -> None:
    with pytest.raises(ConnectError):
        negotiate("\u00b2", VERSIONS)
