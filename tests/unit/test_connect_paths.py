"""Path ids are parsed as Java's Integer.parseInt would parse them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cancelgate.connect.errors import ConnectError
from cancelgate.connect.paths import INT_MAX, INT_MIN, parse_java_int, path_id


@pytest.mark.parametrize(
    "value",
    [
        "AAA",
        "",
        "1.5",
        " 1",
        "1 ",
        "2147483648",
        "-2147483649",
        "+",
        "-",
        "+-1",
        "1e3",
        "0x10",
        "1_000",
        "5\n",
        "99999999999999999999",
    ],
)
def test_rejected(value: str) -> None:
    assert parse_java_int(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+5", 5),
        ("-5", -5),
        ("0", 0),
        ("-0", 0),
        ("007", 7),
        ("2147483647", 2147483647),
        ("-2147483648", -2147483648),
    ],
)
def test_accepted(value: str, expected: int) -> None:
    assert parse_java_int(value) == expected
    assert path_id(value) == expected


def test_int32_bounds() -> None:
    assert INT_MIN == -2147483648
    assert INT_MAX == 2147483647


@given(st.integers(min_value=INT_MIN, max_value=INT_MAX))
def test_every_int32_round_trips(number: int) -> None:
    assert parse_java_int(str(number)) == number
    assert path_id(str(number)) == number


@given(st.integers().filter(lambda n: n < INT_MIN or n > INT_MAX))
def test_every_int_outside_int32_is_rejected(number: int) -> None:
    assert parse_java_int(str(number)) is None


def test_path_id_type_mismatch() -> None:
    with pytest.raises(ConnectError) as caught:
        path_id("AAA")
    error = caught.value
    assert error.status == 400
    assert error.type == "client.validation"
    assert error.code == "method.argument.type.mismatch"
    assert error.message == (
        "Failed to convert value of type 'java.lang.String' to required type "
        "'java.lang.Integer'; nested exception is java.lang.NumberFormatException: "
        'For input string: "AAA"'
    )
    assert error.sub_errors == []


def test_path_id_out_of_range_names_the_value() -> None:
    with pytest.raises(ConnectError) as caught:
        path_id("2147483648")
    assert caught.value.message.endswith('For input string: "2147483648"')
