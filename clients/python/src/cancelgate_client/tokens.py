"""Client credentials: the token request's form and auth, and the private_key_jwt assertion."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cancelgate_client.errors import ConfigurationError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# An assertion is good for one request: short-lived, and a fresh jti each time.
ASSERTION_LIFETIME_SECONDS = 60


@dataclass(frozen=True)
class Credentials:
    """Who the client is: a client id with either a secret or an RSA private key (PEM)."""

    client_id: str
    client_secret: str | None = None
    private_key_pem: bytes | None = None
    key_id: str | None = None

    def __post_init__(self) -> None:
        if (self.client_secret is None) == (self.private_key_pem is None):
            raise ConfigurationError("give exactly one of client_secret or private_key")


def load_private_key(key: str | bytes | Path) -> bytes:
    """PEM bytes from a PEM string or bytes, or from the path of a PEM file."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str) and key.lstrip().startswith("-----BEGIN"):
        return key.encode()
    return Path(key).read_bytes()


def token_form(credentials: Credentials, token_url: str, now: int) -> dict[str, str]:
    """The form of a client-credentials token request (with an assertion for private_key_jwt)."""
    form = {"grant_type": "client_credentials"}
    if credentials.private_key_pem is not None:
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = client_assertion(credentials, token_url, now)
    return form


def client_assertion(credentials: Credentials, audience: str, now: int) -> str:
    """An RS256 JWT (RFC 7523): iss = sub = client id, aud = the token URL, a fresh jti."""
    # Imported here: only private_key_jwt callers need cryptography.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    assert credentials.private_key_pem is not None
    try:
        key = serialization.load_pem_private_key(credentials.private_key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"the private key is not an unencrypted PEM key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("private_key_jwt needs an RSA private key (RS256)")
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if credentials.key_id:
        header["kid"] = credentials.key_id
    claims = {
        "iss": credentials.client_id,
        "sub": credentials.client_id,
        "aud": audience,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_SECONDS,
        "jti": str(uuid.uuid4()),
    }
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class StoredToken:
    """An access token and the instant (seconds since the epoch) it expires."""

    access_token: str
    token_type: str
    expires_at: float


class TokenStore(Protocol):
    """Where a client keeps its token between runs (the command line: one per command)."""

    def load(self, key: str) -> StoredToken | None:
        """The token kept under `key`, if any."""
        ...

    def save(self, key: str, token: StoredToken) -> None:
        """Keep `token` under `key`."""
        ...


def token_key(token_url: str, credentials: Credentials) -> str:
    """Whose token it is: one per token endpoint, client id and credential (a kept token is
    never used with a secret or key other than the one that obtained it)."""
    proof = credentials.client_secret.encode() if credentials.client_secret is not None else b""
    proof += credentials.private_key_pem or b""
    return f"{token_url}\n{credentials.client_id}\n{hashlib.sha256(proof).hexdigest()}"


@dataclass(frozen=True)
class FileTokenStore:
    """Tokens in files of their own, readable by their owner only, named by a hash of the key.

    A bearer token is a credential: the directory is made 0700 and each file 0600; a file that
    cannot be read as a token is ignored (and replaced by the next save)."""

    directory: Path

    def _path(self, key: str) -> Path:
        return self.directory / (hashlib.sha256(key.encode()).hexdigest() + ".json")

    def load(self, key: str) -> StoredToken | None:
        """The token kept under `key`, or None (absent, unreadable or malformed)."""
        try:
            data = json.loads(self._path(key).read_text())
            return StoredToken(
                str(data["access_token"]), str(data["token_type"]), float(data["expires_at"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, key: str, token: StoredToken) -> None:
        """Write the token (atomically: a concurrent reader sees the old file or the new)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(key)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        body = json.dumps(
            {
                "access_token": token.access_token,
                "token_type": token.token_type,
                "expires_at": token.expires_at,
            }
        )
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(body)
            os.replace(partial, path)
        except OSError:
            # A cache that cannot be written costs a token request next time, nothing more.
            with contextlib.suppress(OSError):
                partial.unlink()


def default_token_directory() -> Path:
    """`$XDG_CACHE_HOME/cancelgate/tokens` (~/.cache when unset)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cancelgate" / "tokens"
