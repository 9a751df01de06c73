"""The UX API's error envelope `{"errors": [{code, message, description}]}`, worded as the seed."""

from __future__ import annotations

from starlette.responses import JSONResponse

PREFIX = "/ecom-ux/"
ROUTE_TEMPLATE = "/{businessId}/appointment/{id}"
MALFORMED = (
    "Malformed request syntax, invalid request message framing, or deceptive request routing."
)


class UxError(Exception):
    """An error answered in the UX envelope."""

    def __init__(
        self, status: int, message: str, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.message = message
        self.description = description
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """The HTTP response for this error."""
        body = {
            "errors": [
                {"code": self.status, "message": self.message, "description": self.description}
            ]
        }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def is_ux_path(path: str) -> bool:
    """True for requests to the UX API (its errors use the UX envelope)."""
    return path.startswith(PREFIX)


def bad_request(description: str = MALFORMED) -> UxError:
    """400: malformed or invalid; the description names what is wrong."""
    return UxError(400, "The request is invalid or not properly formed.", description)


def unauthorized() -> UxError:
    """401: missing, short or wrong credentials, or a business unit the client may not use."""
    return UxError(
        401,
        "The user could not be authenticated for this request.",
        "The request has not been applied because it lacks valid authentication credentials "
        "for the target resource.",
    )


def not_found() -> UxError:
    """404: no such appointment in this business unit (or no such path)."""
    return UxError(
        404,
        "The server could not find the requested resource.",
        "The requested operation failed because a resource associated with the request "
        "could not be found.",
    )


def method_not_allowed(method: str) -> UxError:
    """405 as APIKit words it."""
    return UxError(
        405,
        "APIKIT:METHOD_NOT_ALLOWED",
        f"HTTP Method {method} not allowed for : {ROUTE_TEMPLATE}",
        headers={"Allow": "GET, PATCH"},
    )


def not_implemented(method: str, business_id: str) -> UxError:
    """501: an operation or business unit this API does not serve."""
    return UxError(
        501,
        "Not implemented",
        f"Operation {method} /appointment/{{id}} for Business Id: {business_id} not implemented",
    )


def internal_error() -> UxError:
    """500: CSG failed or timed out, or anything unexpected; nothing internal is revealed."""
    return UxError(500, "Internal Server Error", "The request failed due to an internal error.")


def payload_too_large(limit: int) -> UxError:
    """413 for a request body over the limit."""
    return UxError(
        413, "Payload Too Large", f"The request body exceeds the limit of {limit} bytes."
    )


def too_many_requests(retry_after: int) -> UxError:
    """429 for a channel client over its rate limit."""
    return UxError(
        429,
        "Too Many Requests",
        f"The channel client sent too many requests; retry after {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )
