"""Operators' passwords: generated, hashed and verified with Argon2id (argon2-cffi's defaults,
RFC 9106's second recommended parameters)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# Verified against when the email is unknown, so that an unknown email takes as long as a
# wrong password (no telling which emails exist by timing).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(18))
# Longer passwords are refused before hashing (Argon2 would take them, but nobody types more).
MAX_PASSWORD_LENGTH = 1024
MIN_PASSWORD_LENGTH = 12


def new_password() -> str:
    """A generated password (144 random bits)."""
    return secrets.token_urlsafe(18)


def hash_password(password: str) -> str:
    """The Argon2id hash stored for a password (it carries its salt and parameters)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash (None: an unknown operator, never a match, same
    time spent). CPU-bound (~50 ms): call it off the event loop."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
