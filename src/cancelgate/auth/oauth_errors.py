"""OAuth 2.0 error responses (RFC 6749 §5.2)."""

from __future__ import annotations

from starlette.responses import JSONResponse

# The token endpoint's path: the router serves it, the error formats answer on it in RFC 6749.
TOKEN_PATH = "/oauth/token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An error answered by the token endpoint in RFC 6749 form."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """The JSON error response, with the challenge RFC 6749 requires for 401."""
        headers = {**NO_STORE, **self.headers}
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="cancelgate"'
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers=headers,
        )


def invalid_client(description: str = "client authentication failed") -> OAuthError:
    """401 invalid_client."""
    return OAuthError("invalid_client", description, 401)


def invalid_request(description: str) -> OAuthError:
    """400 invalid_request."""
    return OAuthError("invalid_request", description)


def too_many_requests(description: str, retry_after: int) -> OAuthError:
    """429 in RFC 6749's form (it has no code of its own for it: invalid_request)."""
    return OAuthError("invalid_request", description, 429, {"Retry-After": str(retry_after)})
