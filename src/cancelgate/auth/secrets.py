"""Client secrets: generated with enough entropy, stored only as HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_client_id() -> str:
    """A fresh, unguessable client id."""
    return "cg_" + secrets.token_hex(10)


def new_client_secret() -> str:
    """A fresh client secret (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_secret(pepper: bytes, secret: str) -> str:
    """The at-rest form of a secret: HMAC-SHA256 under this installation's pepper."""
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def verify_secret(pepper: bytes, secret: str, stored_hash: str | None) -> bool:
    """Constant-time check of a presented secret against its stored hash."""
    expected = stored_hash or ""
    return hmac.compare_digest(hash_secret(pepper, secret), expected)
