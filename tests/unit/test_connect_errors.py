"""The Connect standard error body and the helpers that build it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from cancelgate.connect.errors import (
    ConnectError,
    detail_sub_error,
    internal_error,
    iso_now,
    not_found,
    rule_violation,
    unauthorized,
    upstream_error,
    validation_sub_error,
)
from cancelgate.domain.errors import SubError

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def test_body_has_exactly_the_standard_keys() -> None:
    body = ConnectError(418, "some.type", "some.code", "some message").body()
    assert list(body) == [
        "httpStatusCode",
        "type",
        "code",
        "message",
        "apiSubErrors",
        "timestamp",
    ]
    assert body["httpStatusCode"] == 418
    assert body["type"] == "some.type"
    assert body["code"] == "some.code"
    assert body["message"] == "some message"
    assert body["apiSubErrors"] == []


def test_timestamp_is_iso_8601_utc_with_z() -> None:
    before = datetime.now(UTC)
    stamp = ConnectError(400, "t", "c", "m").body()["timestamp"]
    after = datetime.now(UTC)
    assert isinstance(stamp, str)
    assert TIMESTAMP.fullmatch(stamp)
    assert stamp.endswith("Z")
    parsed = datetime.fromisoformat(stamp)
    assert parsed.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= parsed <= after + timedelta(seconds=1)


def test_iso_now_format() -> None:
    assert TIMESTAMP.fullmatch(iso_now())


def test_sub_errors_and_headers_are_carried() -> None:
    sub = [detail_sub_error("a.b", "c")]
    error = ConnectError(400, "t", "c", "m", sub, {"X-Thing": "1"})
    assert error.body()["apiSubErrors"] == [{"code": "a.b", "message": "c"}]
    assert error.headers == {"X-Thing": "1"}
    assert str(error) == "m"


def test_response_carries_status_headers_and_body() -> None:
    response = unauthorized().response()
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="cancelgate"'
    payload = json.loads(bytes(response.body))
    assert payload["httpStatusCode"] == 401
    assert payload["code"] == "unauthorized"
    assert payload["type"] == "client.access"


def test_unauthorized() -> None:
    error = unauthorized()
    assert error.status == 401
    assert error.type == "client.access"
    assert error.code == "unauthorized"
    assert error.message == "Bearer token is missing or invalid"
    assert error.headers["WWW-Authenticate"].startswith("Bearer")
    assert error.headers["WWW-Authenticate"] == 'Bearer realm="cancelgate"'


def test_unauthorized_with_reason() -> None:
    error = unauthorized("the token has expired")
    assert error.headers["WWW-Authenticate"] == (
        'Bearer realm="cancelgate", error="invalid_token", '
        'error_description="the token has expired"'
    )


def test_not_found() -> None:
    error = not_found(100)
    assert error.status == 404
    assert error.type == "business.rule"
    assert error.code == "resource.not.found"
    assert error.message == "Resource with id 100 not found"


def test_upstream_error() -> None:
    error = upstream_error()
    assert error.status == 502
    assert error.type == "remote.call"
    assert error.code == "remote.call.error"
    assert error.message == (
        "There was an unexpected error with one or more of the upstream services"
    )
    assert error.sub_errors == []


def test_internal_error() -> None:
    error = internal_error()
    assert (error.status, error.type, error.code) == (
        500,
        "server.internal",
        "server.internal.error",
    )
    assert error.message == "There was an unexpected error processing the request"


def test_rule_violation() -> None:
    sub = SubError("constraints.x", "bad", "Appointment", "status", "complete")
    error = rule_violation([sub])
    assert error.status == 422
    assert error.type == "client.validation"
    assert error.code == "validation"
    assert error.message == "Validation error"
    assert error.sub_errors == [
        {
            "code": "constraints.x",
            "message": "bad",
            "object": "Appointment",
            "field": "status",
            "rejectedValue": "complete",
        }
    ]


def test_rule_violation_custom_code() -> None:
    assert rule_violation([], code="method.argument.not.valid").code == "method.argument.not.valid"


def test_validation_sub_error_keeps_none_rejected_value() -> None:
    shaped = validation_sub_error(SubError("c", "m", "o", "f"))
    assert shaped == {
        "code": "c",
        "message": "m",
        "object": "o",
        "field": "f",
        "rejectedValue": None,
    }
