"""Errors of UX paths in the UX envelope (the app's handlers ask here first)."""

from __future__ import annotations

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from cancelgate.domain.errors import NotFound, RuleViolation, UpstreamUnavailable
from cancelgate.ux.errors import (
    UxError,
    bad_request,
    internal_error,
    is_ux_path,
    method_not_allowed,
    not_found,
)


def ux_error_for(request: Request, exc: Exception) -> UxError | None:
    """The UX error for an exception raised on a UX path; None for other paths."""
    if not is_ux_path(request.url.path):
        return None
    if isinstance(exc, UxError):
        return exc
    if isinstance(exc, NotFound):
        return not_found()
    if isinstance(exc, RuleViolation):
        return bad_request(exc.sub_errors[0].message if exc.sub_errors else str(exc))
    if isinstance(exc, UpstreamUnavailable):
        return internal_error()
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return not_found()
        if exc.status_code == 405:
            return method_not_allowed(request.method)
    return bad_request()
