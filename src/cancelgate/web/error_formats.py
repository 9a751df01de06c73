"""Errors raised below the routers (crash guard, body limit) in the format of the API the
path belongs to: the UX envelope, RFC 6749 on the token endpoint, else the Connect error."""

from __future__ import annotations

from starlette.responses import JSONResponse

from cancelgate.auth.oauth_errors import TOKEN_PATH, OAuthError
from cancelgate.connect.errors import internal_error, payload_too_large
from cancelgate.ux.errors import internal_error as ux_internal_error
from cancelgate.ux.errors import is_ux_path
from cancelgate.ux.errors import payload_too_large as ux_payload_too_large


def internal_error_for(path: str) -> JSONResponse:
    """500 that reveals nothing."""
    error = ux_internal_error() if is_ux_path(path) else internal_error()
    return error.response()


def too_large_for(path: str, limit: int) -> JSONResponse:
    """413 for a body over the limit."""
    if is_ux_path(path):
        return ux_payload_too_large(limit).response()
    if path == TOKEN_PATH:
        error = OAuthError("invalid_request", f"the request body exceeds {limit} bytes", 413)
        return error.response()
    return payload_too_large(limit).response()
