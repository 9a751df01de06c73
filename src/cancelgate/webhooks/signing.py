"""Standard Webhooks secrets and signatures, and the sealing of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "whsec_"
SECRET_BYTES = 24
NONCE_BYTES = 12


def new_secret() -> str:
    """A fresh signing secret, `whsec_` + base64 of random bytes (Standard Webhooks)."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(
    secrets_in_use: list[str], message_id: str, timestamp: int, body: bytes
) -> str:
    """The `webhook-signature` value: one signature per valid secret, space-separated."""
    return " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_use)


def seal(key: bytes, secret: str) -> str:
    """The secret encrypted (AES-256-GCM) for storage: base64(nonce + ciphertext)."""
    nonce = os.urandom(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, secret.encode(), None)).decode()


def unseal(key: bytes, sealed: str) -> str:
    """The secret back from its stored form; raises if it was tampered with."""
    raw = base64.b64decode(sealed)
    return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
