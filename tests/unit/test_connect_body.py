"""Reading a Connect command body: content type, JSON syntax, then field validation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.requests import Request
from starlette.types import Message

from cancelgate.appointments.schemas import COMMAND_OBJECT, AppointmentCancellationCommand
from cancelgate.connect.body import is_json_content_type, read_command
from cancelgate.connect.errors import ConnectError


def make_request(body: bytes, content_type: str | None = "application/json") -> Request:
    headers = [] if content_type is None else [(b"content-type", content_type.encode("latin-1"))]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/appointment-cancellations/request",
        "headers": headers,
        "query_string": b"",
    }
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def read(body: bytes, content_type: str | None = "application/json") -> Any:
    return await read_command(
        make_request(body, content_type), AppointmentCancellationCommand, COMMAND_OBJECT
    )


async def refusal(body: bytes, content_type: str | None = "application/json") -> ConnectError:
    with pytest.raises(ConnectError) as caught:
        await read(body, content_type)
    return caught.value


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "application/json;charset=UTF-8",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/merge-patch+json",
        "application/problem+json",
    ],
)
def test_json_content_types(value: str) -> None:
    assert is_json_content_type(value) is True


@pytest.mark.parametrize(
    "value",
    [
        "text/plain",
        None,
        "",
        "text/json",
        "application/jsonx",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "text/plain+json",
    ],
)
def test_non_json_content_types(value: str | None) -> None:
    assert is_json_content_type(value) is False


async def test_valid_command() -> None:
    command = await read(b'{"appointmentId": 3}')
    assert isinstance(command, AppointmentCancellationCommand)
    assert command.appointmentId == 3


async def test_valid_command_with_charset_and_unknown_fields() -> None:
    command = await read(b'{"appointmentId": -7, "note": "x"}', "application/json;charset=UTF-8")
    assert command.appointmentId == -7


async def test_text_plain_is_415() -> None:
    error = await refusal(b'{"appointmentId": 3}', "text/plain")
    assert error.status == 415
    assert error.type == "client.validation"
    assert error.code == "media.type.not.supported"
    assert error.message == "Content type 'text/plain' not supported; use 'application/json'"


async def test_missing_content_type_is_415() -> None:
    error = await refusal(b'{"appointmentId": 3}', None)
    assert error.status == 415
    assert error.message == (
        "Content type 'application/octet-stream' not supported; use 'application/json'"
    )


@pytest.mark.parametrize("body", [b"{", b"", b"not json", b'{"appointmentId": 3,}', b"\xff\xfe"])
async def test_malformed_json_is_400(body: bytes) -> None:
    error = await refusal(body)
    assert error.status == 400
    assert error.type == "client.validation"
    assert error.code == "http.message.not.readable"
    assert error.message == "Malformed JSON request"
    assert len(error.sub_errors) == 1
    assert error.sub_errors[0]["code"] == "malformed.json.request"
    assert error.sub_errors[0]["message"].startswith("JSON parse error: ")
    assert set(error.sub_errors[0]) == {"code", "message"}


@pytest.mark.parametrize("body", [b"[]", b'[{"appointmentId": 3}]', b"3", b'"x"', b"null"])
async def test_json_that_is_not_an_object_is_400(body: bytes) -> None:
    error = await refusal(body)
    assert error.status == 400
    assert error.code == "http.message.not.readable"
    assert error.sub_errors == [
        {
            "code": "malformed.json.request",
            "message": "JSON parse error: the request body must be a JSON object",
        }
    ]


def _only_sub_error(error: ConnectError) -> dict[str, Any]:
    assert error.status == 422
    assert error.type == "client.validation"
    assert error.code == "method.argument.not.valid"
    assert error.message == "Validation error"
    assert len(error.sub_errors) == 1
    return error.sub_errors[0]


@pytest.mark.parametrize("body", [b"{}", b'{"appointmentId": null}', b'{"other": 3}'])
async def test_missing_or_null_appointment_id_is_not_null(body: bytes) -> None:
    sub = _only_sub_error(await refusal(body))
    assert sub == {
        "code": "constraints.not.null",
        "message": "must not be null",
        "object": "connectAppointmentCancellationRequestCommand",
        "field": "appointmentId",
        "rejectedValue": None,
    }


@pytest.mark.parametrize(
    ("body", "rejected"),
    [
        (b'{"appointmentId": "3"}', "3"),
        (b'{"appointmentId": true}', True),
        (b'{"appointmentId": false}', False),
        (b'{"appointmentId": 3.0}', 3.0),
        (b'{"appointmentId": [3]}', [3]),
    ],
)
async def test_wrong_type_is_a_type_mismatch_echoing_the_input(body: bytes, rejected: Any) -> None:
    sub = _only_sub_error(await refusal(body))
    assert sub == {
        "code": "constraints.type.mismatch",
        "message": "must be an integer",
        "object": "connectAppointmentCancellationRequestCommand",
        "field": "appointmentId",
        "rejectedValue": rejected,
    }
    assert type(sub["rejectedValue"]) is type(rejected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2147483648, "input should be less than or equal to 2147483647"),
        (-2147483649, "input should be greater than or equal to -2147483648"),
    ],
)
async def test_out_of_int32_range(value: int, message: str) -> None:
    sub = _only_sub_error(await refusal(json.dumps({"appointmentId": value}).encode()))
    assert sub["code"] == "constraints.range"
    assert sub["message"] == message
    assert sub["rejectedValue"] == value


async def test_int32_bounds_are_accepted() -> None:
    assert (await read(b'{"appointmentId": 2147483647}')).appointmentId == 2147483647
    assert (await read(b'{"appointmentId": -2147483648}')).appointmentId == -2147483648


async def test_validation_error_response_is_serialisable() -> None:
    error = await refusal(b'{"appointmentId": "3"}')
    response = error.response()
    assert response.status_code == 422
    assert json.loads(bytes(response.body))["apiSubErrors"][0]["rejectedValue"] == "3"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"1e400"])
async def test_non_finite_number_is_malformed_json_with_a_strict_json_error(
    literal: bytes,
) -> None:
    response = (await refusal(b'{"appointmentId": ' + literal + b"}")).response()
    assert response.status_code == 400
    body = json.loads(bytes(response.body), parse_constant=_reject_constant)
    assert body["code"] == "http.message.not.readable"
    assert [sub["code"] for sub in body["apiSubErrors"]] == ["malformed.json.request"]


async def test_deeply_nested_json_is_malformed() -> None:
    error = await refusal(b"[" * 5_000)
    assert error.status == 400
