"""What every console page shares: the route class that turns refusals into pages, the gate
that hides the console while it is off, the operator of a request, the CSRF check of a POST,
rendering, and the query parsing and keyset cursors of the lists.

Every page needs a session (else 303 to the login page); every POST needs the session's CSRF
token (else 403) and writes what it did to the audit log in its own unit of work. The whole
console answers 404, as an unknown path, while `CANCELGATE_CONSOLE` is off or no operator
exists.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from cancelgate.clock import start_of_day
from cancelgate.console import repository
from cancelgate.console.paging import NO_CURSOR, RequestFilters
from cancelgate.console.sessions import (
    COOKIE,
    COOKIE_PATH,
    Session,
    cookie_values,
    decode,
    same_token,
    session_key,
)
from cancelgate.dependencies import DatabaseDep, Keys, SettingsDep, ZoneDep, runtime_of

# How long "the console is on" (or off) is believed before the database is asked again.
GATE_SECONDS = 2.0
# Pages refuse to be framed, run no script, and load only what cancelgate serves.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
PREFIX = COOKIE_PATH
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

_TEMPLATES = Environment(
    loader=PackageLoader("cancelgate.console", "templates"),
    autoescape=True,  # every value is escaped, whatever the template's name
    auto_reload=False,
)


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
                query = "" if request.method != "GET" else "?" + urlencode({"next": here(request)})
                return RedirectResponse(f"{PREFIX}/login{query}", status_code=303)
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


def console_router() -> APIRouter:
    """A router of console pages, its paths under /console from the start (so each route's
    template is the path a request names, as `/metrics` labels it)."""
    return APIRouter(prefix=PREFIX, route_class=ConsoleRoute)


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


@lru_cache(maxsize=4)
def signing_key(sealing_key: bytes) -> bytes:
    """The session-signing key of an installation's sealing key (derived once)."""
    return session_key(sealing_key)


@dataclass(frozen=True)
class Current:
    """The operator of a request, and their session."""

    operator_id: int
    email: str
    session: Session


async def current(request: Request, database: DatabaseDep, keys: Keys) -> Current:
    """The request's operator: a valid session of an enabled operator that has not logged out."""
    key = signing_key(keys.sealing_key)
    sessions = (
        decode(value, key) for value in cookie_values(request.headers.get("cookie"), COOKIE)
    )
    session = next((found for found in sessions if found is not None), None)
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
    sandbox = runtime_of(request).settings.sandbox
    html = _TEMPLATES.get_template(template).render(
        {"prefix": PREFIX, "quote": quote, "sandbox": sandbox, **context}
    )
    response = Response(html, status_code=status, media_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def refused(request: Request, operator: Current, message: str, status: int = 400) -> Response:
    """The page of an action or a filter refused (bad input, a rule): nothing was changed."""
    return render(request, "error.html", {"me": operator, "message": message}, status)


def not_found(request: Request, operator: Current, message: str) -> Response:
    """The 404 page of a console object that does not exist."""
    return refused(request, operator, message, 404)


def redirect(path: str) -> Response:
    """After a POST: see the page at `path` (under /console)."""
    return RedirectResponse(f"{PREFIX}{path}", status_code=303)


def secure(request: Request) -> bool:
    """Whether the console is served over https (cookies get Secure)."""
    return request.url.scheme == "https"


def positive_int(value: str | None, limit: int = NO_CURSOR) -> int | None:
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


def text_filter(value: str | None, max_length: int = 200) -> str | None:
    """A query's text filter, trimmed (None when absent or blank); 400 when too long."""
    found = (value or "").strip()
    if len(found) > max_length:
        raise HTTPException(status_code=400, detail="too long")
    return found or None


def next_page(filters: dict[str, str], cursor: int | None) -> str | None:
    """The query string of a list's next page (its filters and cursor), or None on the last."""
    if cursor is None:
        return None
    return "?" + urlencode({**{k: v for k, v in filters.items() if v}, "before": cursor})


def day_filter(value: str | None, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """A query's business day (yyyy-MM-dd) as the [start, end) of its instants (None when
    absent or blank); 400 otherwise."""
    found = (value or "").strip()
    if not found:
        return None
    if not ISO_DATE.fullmatch(found):
        raise HTTPException(status_code=400, detail="not a date (yyyy-MM-dd)")
    try:
        day = date.fromisoformat(found)
        # The first and last days of the calendar have no instant on one side in UTC.
        return start_of_day(day, zone), start_of_day(day + timedelta(days=1), zone)
    except (ValueError, OverflowError) as exc:
        raise HTTPException(status_code=400, detail="not a date (yyyy-MM-dd)") from exc


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of the console only (never another site)."""
    if (
        target
        and target.startswith(PREFIX)
        and not target.startswith("//")
        and "\\" not in target
        and all(ord(c) > 0x20 for c in target)
        and target[len(PREFIX) : len(PREFIX) + 1] in ("", "/", "?")
    ):
        return target
    return PREFIX


def back_to(target: str | None, default: str) -> Response:
    """303 to `target` if it is a console path (as after logging in), else to `default`."""
    if target and safe_next(target) == target:
        return RedirectResponse(target, status_code=303)
    return redirect(default)


def here(request: Request) -> str:
    """This page's path and query, for the forms that come back to it."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def utc_instant(text: str) -> datetime | None:
    """A date-time as a datetime-local input sends it (no offset: UTC), or with an offset;
    None if it is not one."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


async def request_filters(
    zone: ZoneDep,
    before: str | None = None,
    tenant: str | None = None,
    status: str | None = None,
    day: str | None = None,
    id: str | None = None,
) -> RequestFilters:
    """A request list's filters from its query: tenant name, status, the business day requested
    on (yyyy-MM-dd), id, and the page's cursor; 400 when one is malformed."""
    tenant_name = text_filter(tenant)
    status_name = (text_filter(status) or "").upper() or None
    shown = {
        "tenant": tenant_name or "",
        "status": status_name or "",
        "day": (day or "").strip(),
        "id": (id or "").strip(),
    }
    return RequestFilters(
        before=positive_int(before),
        tenant=tenant_name,
        status=status_name,
        requested=day_filter(day, zone),
        request_id=positive_int(id),
        shown=shown,
    )


Filters = Annotated[RequestFilters, Depends(request_filters)]


def request_list(
    request: Request,
    operator: Current,
    template: str,
    page: tuple[list[Any], int | None],
    filters: RequestFilters,
    statuses: tuple[str, ...],
    zone: ZoneInfo,
) -> Response:
    """A request list's page: its rows, the filters shown again, the next page's link."""
    rows, cursor = page
    return render(
        request,
        template,
        {
            "me": operator,
            "rows": rows,
            "next_url": next_page(filters.shown, cursor),
            "filters": filters.shown,
            "statuses": statuses,
            "zone": zone.key,
        },
    )
