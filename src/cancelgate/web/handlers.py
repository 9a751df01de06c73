"""Exception handlers: the Connect standard error format, or the UX envelope on UX paths."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from cancelgate.connect.errors import (
    CLIENT_VALIDATION,
    ConnectError,
    not_found,
    rule_violation,
    upstream_error,
)
from cancelgate.domain.errors import NotFound, RuleViolation, UpstreamUnavailable
from cancelgate.ux.errors import UxError
from cancelgate.ux.handlers import ux_error_for

# Where the sandbox's routes live (each depends on `SandboxOn`), in both APIs.
SANDBOX_PATH = re.compile(r"^(/api/connect|/ecom-ux/v1/[^/]+)/sandbox(/|$)")
# Every method a route may serve; what a path serves is found among these.
METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")


def allowed_methods(request: Request) -> list[str]:
    """The methods some route serves on this request's path, for a 405's `Allow`.

    The router's own 405 names only the first route that matched the path, not every method.
    """
    routes = request.app.router.routes
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    ]


def hidden_sandbox_path(request: Request) -> bool:
    """Whether this is a sandbox path while the sandbox is off: then every method is answered
    as an unknown path, not 405 (which would say that the route exists)."""
    sandbox: bool = request.app.state.runtime.settings.sandbox
    return not sandbox and bool(SANDBOX_PATH.match(request.url.path))


def _http_error(request: Request, exc: StarletteHTTPException) -> ConnectError:
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        return ConnectError(
            404, CLIENT_VALIDATION, "no.handler.found", f"No endpoint {method} {path}."
        )
    if exc.status_code == 405:
        return ConnectError(
            405,
            CLIENT_VALIDATION,
            "method.not.supported",
            f"Request method '{method}' not supported",
            headers={"Allow": ", ".join(allowed_methods(request))},
        )
    return ConnectError(exc.status_code, CLIENT_VALIDATION, "bad.request", str(exc.detail))


def _connect_error(request: Request, exc: Exception) -> ConnectError:
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, NotFound):
        return not_found(exc.resource_id)
    if isinstance(exc, RuleViolation):
        return rule_violation(exc.sub_errors)
    if isinstance(exc, UpstreamUnavailable):
        return upstream_error()
    if isinstance(exc, StarletteHTTPException):
        return _http_error(request, exc)
    assert isinstance(exc, RequestValidationError)
    message = "; ".join(str(e.get("msg")) for e in exc.errors()) or "Bad request"
    return ConnectError(400, CLIENT_VALIDATION, "bad.request", message)


def install_error_handlers(app: FastAPI) -> None:
    """Map domain and framework errors to error responses: UX envelope on UX paths, else Connect."""

    async def handle(request: Request, exc: Exception) -> Response:
        if (
            isinstance(exc, StarletteHTTPException)
            and exc.status_code == 405
            and hidden_sandbox_path(request)
        ):
            exc = StarletteHTTPException(404)
        ux = ux_error_for(request, exc)
        return ux.response() if ux is not None else _connect_error(request, exc).response()

    for kind in (
        ConnectError,
        UxError,
        NotFound,
        RuleViolation,
        UpstreamUnavailable,
        StarletteHTTPException,
        RequestValidationError,
    ):
        app.add_exception_handler(kind, handle)
