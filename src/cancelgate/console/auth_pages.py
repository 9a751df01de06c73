"""Logging in and out of the console, and its stylesheet (served before any session)."""

from __future__ import annotations

import asyncio
from importlib.resources import files
from typing import Annotated

import structlog
from fastapi import Form, Request
from starlette.responses import RedirectResponse, Response

from cancelgate.console import repository
from cancelgate.console.operators import normal_email
from cancelgate.console.passwords import verify_password
from cancelgate.console.sessions import (
    COOKIE,
    LOGIN_COOKIE,
    encode,
    new_login_token,
    new_session,
    same_token,
)
from cancelgate.console.web import (
    PREFIX,
    Acting,
    CsrfRefused,
    LoginThrottled,
    console_router,
    render,
    safe_next,
    secure,
    signing_key,
)
from cancelgate.dependencies import DatabaseDep, Keys, RateLimits, SettingsDep, Uow

log = structlog.get_logger(__name__)

_CSS = files("cancelgate.console").joinpath("static/console.css").read_bytes()

router = console_router()


@router.get("/static/console.css")
async def stylesheet() -> Response:
    """The console's one stylesheet."""
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


def _login_form(request: Request, context: dict[str, object], status: int = 200) -> Response:
    """The login form with a fresh CSRF token, double-submitted in a cookie of its own."""
    token = new_login_token()
    response = render(request, "login.html", {**context, "csrf": token}, status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=secure(request),
    )
    return response


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """The login form."""
    return _login_form(request, {"next": safe_next(next)})


def _failure_key(email: str) -> str:
    return f"console-login/{email}"


@router.post("/login")
async def login(
    request: Request,
    uow: Uow,
    database: DatabaseDep,
    keys: Keys,
    settings: SettingsDep,
    limiter: RateLimits,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str | None, Form()] = None,
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the password; a session cookie on success. Failures are slowed per email."""
    expected = request.cookies.get(LOGIN_COOKIE)
    if expected is None or not same_token(expected, csrf):
        raise CsrfRefused
    email = normal_email(email)
    key = _failure_key(email)
    await limiter.failure_wait(key, LoginThrottled)
    found = await repository.login_row(database, email)
    usable = found if found is not None and not found.disabled else None
    ok = await asyncio.to_thread(
        verify_password, None if usable is None else usable.password_hash, password
    )
    if usable is None or not ok:
        await limiter.failed(key)
        if found is not None:
            # Unknown emails are only logged: they would let anyone fill the audit log.
            await repository.audit(uow, operator_id=found.id, action="login.failed")
        log.warning("console_login_failed", known=found is not None)
        return _login_form(
            request,
            {"error": "Wrong email or password.", "next": safe_next(next), "email": email},
            401,
        )
    await limiter.succeeded(key)
    await repository.audit(uow, operator_id=usable.id, action="login")
    lifetime = settings.console_session_hours * 3600
    session = new_session(usable.id, lifetime)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        encode(session, signing_key(keys.sealing_key)),
        max_age=lifetime,
        path=PREFIX,
        httponly=True,
        samesite="lax",
        secure=secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
    return response


@router.post("/logout")
async def logout(request: Request, uow: Uow, operator: Acting) -> Response:
    """End this session (and every earlier one of the operator)."""
    await repository.end_sessions(uow, operator.operator_id, operator.session.issued_us)
    await repository.audit(uow, operator_id=operator.operator_id, action="logout")
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX, secure=secure(request), httponly=True)
    return response
