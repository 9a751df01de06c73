"""The Connect standard error body and the exception that carries it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import JSONResponse

from cancelgate.domain.errors import SubError

CLIENT_ACCESS = "client.access"
CLIENT_VALIDATION = "client.validation"
BUSINESS_RULE = "business.rule"
REMOTE_CALL = "remote.call"
SERVER_INTERNAL = "server.internal"


def iso_now() -> str:
    """The current UTC instant as the error `timestamp` (ISO-8601, `Z`)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def validation_sub_error(error: SubError) -> dict[str, Any]:
    """A sub-error of the validation shape."""
    return {
        "code": error.code,
        "message": error.message,
        "object": error.object,
        "field": error.field,
        "rejectedValue": error.rejected_value,
    }


def detail_sub_error(code: str, message: str) -> dict[str, Any]:
    """A sub-error of the detail shape."""
    return {"code": code, "message": message}


class ConnectError(Exception):
    """An error answered in the Connect standard error format."""

    def __init__(
        self,
        status: int,
        type_: str,
        code: str,
        message: str,
        sub_errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.code = code
        self.message = message
        self.sub_errors = sub_errors or []
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The standard error body."""
        return {
            "httpStatusCode": self.status,
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "apiSubErrors": self.sub_errors,
            "timestamp": iso_now(),
        }

    def response(self) -> JSONResponse:
        """The HTTP response for this error."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def unauthorized(reason: str | None = None) -> ConnectError:
    """401 for a missing or unusable bearer token (RFC 6750 challenge included)."""
    challenge = 'Bearer realm="cancelgate"'
    if reason is not None:
        challenge += f', error="invalid_token", error_description="{reason}"'
    return ConnectError(
        401,
        CLIENT_ACCESS,
        "unauthorized",
        "Bearer token is missing or invalid",
        headers={"WWW-Authenticate": challenge},
    )


def not_found(resource_id: Any) -> ConnectError:
    """404 for an unknown object or one the caller may not see: the same answer for both."""
    return ConnectError(
        404, BUSINESS_RULE, "resource.not.found", f"Resource with id {resource_id} not found"
    )


def rule_violation(sub_errors: list[SubError], code: str = "validation") -> ConnectError:
    """422 listing the rules the request broke."""
    return ConnectError(
        422,
        CLIENT_VALIDATION,
        code,
        "Validation error",
        [validation_sub_error(e) for e in sub_errors],
    )


def upstream_error() -> ConnectError:
    """502 when an upstream service cannot be reached or failed."""
    return ConnectError(
        502,
        REMOTE_CALL,
        "remote.call.error",
        "There was an unexpected error with one or more of the upstream services",
    )


def internal_error() -> ConnectError:
    """500 for an unexpected fault; says nothing about its cause."""
    return ConnectError(
        500,
        SERVER_INTERNAL,
        "server.internal.error",
        "There was an unexpected error processing the request",
    )


def type_mismatch(value: str) -> ConnectError:
    """400 for a path id that is not an integer, worded as the reference implementation does."""
    return ConnectError(
        400,
        CLIENT_VALIDATION,
        "method.argument.type.mismatch",
        "Failed to convert value of type 'java.lang.String' to required type "
        "'java.lang.Integer'; nested exception is java.lang.NumberFormatException: "
        f'For input string: "{value}"',
    )


def payload_too_large(limit: int) -> ConnectError:
    """413 for a request body over the limit (declared or sent)."""
    return ConnectError(
        413,
        CLIENT_VALIDATION,
        "payload.too.large",
        f"The request body exceeds the limit of {limit} bytes",
    )


def too_many_requests(retry_after: int) -> ConnectError:
    """429 for a client over its rate limit (its RateLimit fields say which and until when)."""
    return ConnectError(
        429,
        CLIENT_ACCESS,
        "rate.limit.exceeded",
        f"Too many requests from this client; retry after {retry_after} s",
        headers={"Retry-After": str(retry_after)},
    )
