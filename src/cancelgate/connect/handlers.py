"""Exception handlers that answer in the Connect standard error format."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from cancelgate.connect.errors import (
    CLIENT_VALIDATION,
    ConnectError,
    not_found,
    rule_violation,
    upstream_error,
)
from cancelgate.domain.errors import NotFound, RuleViolation, UpstreamUnavailable


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
            headers=dict(exc.headers or {}),
        )
    return ConnectError(exc.status_code, CLIENT_VALIDATION, "bad.request", str(exc.detail))


def install_connect_handlers(app: FastAPI) -> None:
    """Map domain errors and framework errors to Connect error responses."""

    async def connect_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConnectError)
        return exc.response()

    async def domain_not_found(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotFound)
        return not_found(exc.resource_id).response()

    async def domain_rule(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RuleViolation)
        return rule_violation(exc.sub_errors).response()

    async def upstream(_: Request, exc: Exception) -> Response:
        return upstream_error().response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _http_error(request, exc).response()

    async def validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message = "; ".join(str(e.get("msg")) for e in exc.errors()) or "Bad request"
        return ConnectError(400, CLIENT_VALIDATION, "bad.request", message).response()

    app.add_exception_handler(ConnectError, connect_error)
    app.add_exception_handler(NotFound, domain_not_found)
    app.add_exception_handler(RuleViolation, domain_rule)
    app.add_exception_handler(UpstreamUnavailable, upstream)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation)
