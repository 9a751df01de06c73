"""The console's session cookie and CSRF tokens.

A session is a cookie `cg_console`: `<payload>.<mac>`, the payload the base64url JSON of the
operator's id, when it was issued and when it expires (µs and s since the epoch) and the
session's CSRF secret; the MAC is HMAC-SHA256 of the payload under a key derived from the
installation's sealing key with a fixed label (never the sealing key itself). Nothing is stored
per session: a session ends when it expires, or when its operator logs out (every cookie
issued before `operators.sessions_valid_after` is refused) or is disabled.

Every form carries the session's CSRF secret in a hidden field; every POST compares it with the
cookie's in constant time. The login form, before any session, is protected the same way by a
cookie of its own (`cg_console_login`), double-submitted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

COOKIE = "cg_console"
LOGIN_COOKIE = "cg_console_login"
COOKIE_PATH = "/console"
_LABEL = b"cancelgate console session v1"


def session_key(sealing_key: bytes) -> bytes:
    """The key that signs sessions, derived from the installation's sealing key."""
    return hmac.new(sealing_key, _LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Session:
    """A verified session: whose, issued when (µs since the epoch), until when, its CSRF secret."""

    operator_id: int
    issued_us: int
    expires: int
    csrf: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_session(operator_id: int, lifetime_seconds: int, now: float | None = None) -> Session:
    """A fresh session (a new CSRF secret) for the operator."""
    now = time.time() if now is None else now
    return Session(
        operator_id=operator_id,
        issued_us=int(now * 1_000_000),
        expires=int(now) + lifetime_seconds,
        csrf=secrets.token_urlsafe(24),
    )


def encode(session: Session, key: bytes) -> str:
    """The cookie value of a session."""
    payload = _b64(
        json.dumps(
            {
                "o": session.operator_id,
                "i": session.issued_us,
                "e": session.expires,
                "c": session.csrf,
            },
            separators=(",", ":"),
        ).encode()
    )
    mac = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def decode(value: str | None, key: bytes, now: float | None = None) -> Session | None:
    """The session of a cookie value, or None: absent, malformed, tampered with, or expired."""
    if not value or len(value) > 1024 or value.count(".") != 1:
        return None
    payload, mac = value.split(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        return None
    try:
        fields = json.loads(_unb64(payload))
        session = Session(
            operator_id=int(fields["o"]),
            issued_us=int(fields["i"]),
            expires=int(fields["e"]),
            csrf=str(fields["c"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    if session.expires <= (time.time() if now is None else now):
        return None
    return session


# Cookies a request may carry under one name before the rest are ignored (a bound on the work a
# crafted header can cause).
MAX_SAME_NAME = 4


def cookie_values(header: str | None, name: str) -> list[str]:
    """Every value the Cookie header gives `name`, in order. A browser sends a more specific
    path's cookie first, but one set on `/` by another application of the host comes too:
    reading only one value (the last, as a dict does) would let that cookie shadow the
    console's."""
    found: list[str] = []
    for part in (header or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            found.append(value.strip().strip('"'))
            if len(found) == MAX_SAME_NAME:
                break
    return found


def same_token(expected: str, given: str | None) -> bool:
    """Whether a form's CSRF token is the expected one (constant time)."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


def new_login_token() -> str:
    """The login form's CSRF token (and its cookie's value)."""
    return secrets.token_urlsafe(24)
