"""The console's pages and actions (server-rendered HTML, readable without JavaScript).

Every page needs a session (else 303 to the login page); every POST needs the session's CSRF
token (else 403) and writes what it did to the audit log in its own unit of work. The whole
console answers 404, as an unknown path, while `CANCELGATE_CONSOLE` is off or no operator
exists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import structlog
from fastapi import APIRouter, Depends, Form, Request
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from cancelgate.console import repository
from cancelgate.console.operators import normal_email
from cancelgate.console.passwords import verify_password
from cancelgate.console.sessions import (
    COOKIE,
    COOKIE_PATH,
    LOGIN_COOKIE,
    Session,
    decode,
    encode,
    new_login_token,
    new_session,
    same_token,
    session_key,
)
from cancelgate.dependencies import DatabaseDep, Keys, RateLimits, SettingsDep, Uow
from cancelgate.jobs.backlog import waiting_jobs

log = structlog.get_logger(__name__)

# How long "the console is on" (or off) is believed before the database is asked again.
GATE_SECONDS = 2.0
# Pages refuse to be framed, run no script, and load only what cancelgate serves.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
STATUSES = ("IN_PROGRESS", "COMPLETED", "FAILED")

_TEMPLATES = Environment(
    loader=PackageLoader("cancelgate.console", "templates"),
    autoescape=True,  # every value is escaped, whatever the template's name
    auto_reload=False,
)
_CSS = files("cancelgate.console").joinpath("static/console.css").read_bytes()


class LoginRequired(Exception):
    """No valid session: the page redirects to the login page."""


class CsrfRefused(Exception):
    """A POST without the right CSRF token."""


class LoginThrottled(Exception):
    """Too many failed logins for this email: wait this many seconds."""

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class ConsoleRoute(APIRoute):
    """A console route: the console's refusals become pages (a redirect to the login page, a
    403 or a 429), raised from dependencies and handlers alike."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                query = "" if request.method != "GET" else "?" + urlencode({"next": target})
                return RedirectResponse(f"{COOKIE_PATH}/login{query}", status_code=303)
            except CsrfRefused:
                return render(
                    request, "error.html", {"message": "CSRF token missing or wrong."}, 403
                )
            except LoginThrottled as exc:
                response = render(
                    request,
                    "login.html",
                    {"error": f"Too many failed logins: try again in {exc.seconds} s.", "csrf": ""},
                    429,
                )
                response.headers["Retry-After"] = str(exc.seconds)
                return response

        return handle


@dataclass
class _Gate:
    on: bool = False
    until: float = 0.0


async def console_on(request: Request, database: DatabaseDep, settings: SettingsDep) -> None:
    """Nothing when the console is on and an operator exists; else the 404 of an unknown path."""
    if not settings.console:
        raise HTTPException(status_code=404)
    gate: _Gate | None = getattr(request.app.state, "console_gate", None)
    if gate is None:
        gate = request.app.state.console_gate = _Gate()
    now = time.monotonic()
    if now >= gate.until:
        gate.on = await repository.any_operator(database)
        gate.until = now + GATE_SECONDS
    if not gate.on:
        raise HTTPException(status_code=404)


router = APIRouter(
    prefix=COOKIE_PATH,
    route_class=ConsoleRoute,
    include_in_schema=False,
    dependencies=[Depends(console_on)],
)


@lru_cache(maxsize=4)
def _key(sealing_key: bytes) -> bytes:
    return session_key(sealing_key)


@dataclass(frozen=True)
class Current:
    """The operator of a request, and their session."""

    operator_id: int
    email: str
    session: Session


async def current(request: Request, database: DatabaseDep, keys: Keys) -> Current:
    """The request's operator: a valid session of an enabled operator that has not logged out."""
    session = decode(request.cookies.get(COOKIE), _key(keys.sealing_key))
    if session is None:
        raise LoginRequired
    row = await repository.session_row(database, session.operator_id)
    if row is None or row.disabled or session.issued_us <= row.valid_after_us:
        raise LoginRequired
    return Current(row.id, row.email, session)


CurrentOperator = Annotated[Current, Depends(current)]


async def checked(operator: CurrentOperator, csrf: Annotated[str | None, Form()] = None) -> Current:
    """The operator of a POST whose form carries their session's CSRF token."""
    if not same_token(operator.session.csrf, csrf):
        raise CsrfRefused
    return operator


Acting = Annotated[Current, Depends(checked)]


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    """A page: its template with the context, escaped, and the console's headers."""
    html = _TEMPLATES.get_template(template).render(
        {"prefix": COOKIE_PATH, "quote": quote, **context}
    )
    response = Response(html, status_code=status, media_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of the console only (never another site)."""
    if (
        target
        and target.startswith(COOKIE_PATH)
        and not target.startswith("//")
        and "\\" not in target
        and all(ord(c) > 0x20 for c in target)
        and target[len(COOKIE_PATH) : len(COOKIE_PATH) + 1] in ("", "/", "?")
    ):
        return target
    return COOKIE_PATH


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/static/console.css")
async def stylesheet() -> Response:
    """The console's one stylesheet."""
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """The login form, with a fresh CSRF token double-submitted in a cookie."""
    token = new_login_token()
    response = render(request, "login.html", {"csrf": token, "next": safe_next(next)})
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return response


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

    def throttled(seconds: int) -> LoginThrottled:
        return LoginThrottled(seconds)

    await limiter.failure_wait(key, throttled)
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
        token = new_login_token()
        response = render(
            request,
            "login.html",
            {
                "error": "Wrong email or password.",
                "csrf": token,
                "next": safe_next(next),
                "email": email,
            },
            401,
        )
        response.set_cookie(
            LOGIN_COOKIE, token, max_age=3600, path=COOKIE_PATH, httponly=True,
            samesite="strict", secure=_secure(request),
        )  # fmt: skip
        return response
    await limiter.succeeded(key)
    await repository.audit(uow, operator_id=usable.id, action="login")
    lifetime = settings.console_session_hours * 3600
    session = new_session(usable.id, lifetime)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        encode(session, _key(keys.sealing_key)),
        max_age=lifetime,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/logout")
async def logout(request: Request, uow: Uow, operator: Acting) -> Response:
    """End this session (and every earlier one of the operator)."""
    await repository.end_sessions(uow, operator.operator_id, operator.session.issued_us)
    await repository.audit(uow, operator_id=operator.operator_id, action="logout")
    response = RedirectResponse(f"{COOKIE_PATH}/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=_secure(request), httponly=True)
    return response


@router.get("")
async def overview(request: Request, operator: CurrentOperator, database: DatabaseDep) -> Response:
    """Counts of appointment cancellations by status, and the jobs waiting."""
    counts = await repository.counts_by_status(database)
    waiting = await waiting_jobs(database)
    return render(request, "overview.html", {"me": operator, "counts": counts, "waiting": waiting})


def _int(value: str | None, limit: int = repository.NO_CURSOR) -> int | None:
    """A query's positive integer below limit (None when absent or blank); 400 otherwise."""
    if value is None or not value.strip():
        return None
    try:
        number = int(value)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="not a number") from exc
    if not 0 < number < limit:
        raise HTTPException(status_code=400, detail="out of range")
    return number


@router.get("/requests")
async def requests_list(
    request: Request,
    operator: CurrentOperator,
    database: DatabaseDep,
    before: str | None = None,
    tenant: str | None = None,
    status: str | None = None,
    id: str | None = None,
) -> Response:
    """Appointment cancellations, newest first, 50 a page (`?before=<id>`), filtered."""
    tenant_name = (tenant or "").strip() or None
    status_name = (status or "").strip().upper() or None
    rows, next_cursor = await repository.requests_page(
        database, before=_int(before), tenant=tenant_name, status=status_name, request_id=_int(id)
    )
    shown = {"tenant": tenant_name or "", "status": status_name or "", "id": (id or "").strip()}
    next_url = None
    if next_cursor is not None:
        next_url = "?" + urlencode({**{k: v for k, v in shown.items() if v}, "before": next_cursor})
    return render(
        request,
        "requests.html",
        {
            "me": operator,
            "rows": rows,
            "next_url": next_url,
            "filters": shown,
            "statuses": STATUSES,
        },
    )


@router.get("/requests/{request_id}")
async def request_detail(
    request: Request, request_id: str, operator: CurrentOperator, database: DatabaseDep
) -> Response:
    """One appointment cancellation and its timeline."""
    number = _int(request_id)
    found = None if number is None else await repository.timeline(database, number)
    if found is None:
        return render(request, "error.html", {"me": operator, "message": "No such request."}, 404)
    return render(request, "request.html", {"me": operator, "t": found})


@router.get("/clients")
async def clients_list(
    request: Request, operator: CurrentOperator, database: DatabaseDep, before: str | None = None
) -> Response:
    """API clients, newest first, with their enable/disable actions."""
    rows, next_cursor = await repository.clients_page(database, _int(before))
    next_url = None if next_cursor is None else f"?before={next_cursor}"
    return render(request, "clients.html", {"me": operator, "rows": rows, "next_url": next_url})


async def _set_enabled(uow: Uow, operator: Current, client_id: str, *, enabled: bool) -> Response:
    if not await repository.set_client_enabled(uow, client_id, enabled=enabled):
        raise HTTPException(status_code=404)
    await repository.audit(
        uow,
        operator_id=operator.operator_id,
        action="client.enable" if enabled else "client.disable",
        target=f"client:{client_id}",
    )
    return RedirectResponse(f"{COOKIE_PATH}/clients", status_code=303)


@router.post("/clients/{client_id}/disable")
async def disable_client(client_id: str, uow: Uow, operator: Acting) -> Response:
    """Disable an API client: its next token request, and its tokens past the principal
    cache, are refused."""
    return await _set_enabled(uow, operator, client_id, enabled=False)


@router.post("/clients/{client_id}/enable")
async def enable_client(client_id: str, uow: Uow, operator: Acting) -> Response:
    """Enable an API client again."""
    return await _set_enabled(uow, operator, client_id, enabled=True)


@router.get("/audit")
async def audit_log(
    request: Request, operator: CurrentOperator, database: DatabaseDep, before: str | None = None
) -> Response:
    """What operators did, newest first."""
    rows, next_cursor = await repository.audit_page(
        database, _int(before, repository.NO_BIG_CURSOR)
    )
    next_url = None if next_cursor is None else f"?before={next_cursor}"
    return render(request, "audit.html", {"me": operator, "rows": rows, "next_url": next_url})
