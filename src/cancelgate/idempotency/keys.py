"""Pure rules of Idempotency-Key handling: the key's syntax, the request's fingerprint, what a
second request with a known key gets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from starlette.datastructures import Headers

from cancelgate.connect.idempotency_key import HEADER, KEY_PATTERN

PROCESSING = "processing"
COMPLETED = "completed"
# Response headers worth replaying (the rest are added on the way out, or are per-response).
REPLAYED_HEADERS = frozenset({"content-type", "location", "retry-after", "www-authenticate"})


class Decision(StrEnum):
    """What to do with a request whose key is already recorded."""

    REPLAY = "replay"
    REUSED = "reused"  # same key, another request: 422
    IN_FLIGHT = "in-flight"  # the first is still running: 409
    TAKE_OVER = "take-over"  # the first was abandoned or has expired: run this one


@dataclass(frozen=True)
class Recorded:
    """What is known of the first request with a key."""

    fingerprint: str
    state: str
    locked_until: datetime
    expires_at: datetime


def valid_key(values: list[str]) -> str | None:
    """The key when exactly one well-formed Idempotency-Key header was sent, else None."""
    if len(values) != 1 or not KEY_PATTERN.fullmatch(values[0]):
        return None
    return values[0]


def key_of(headers: Headers) -> str | None:
    """The request's Idempotency-Key, or None without one; a handler may trust it, since the
    middleware has refused a malformed key before the handler runs."""
    return valid_key(headers.getlist(HEADER))


def fingerprint(method: str, path: str, version: str, body: bytes) -> str:
    """A digest of what makes two requests the same request."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), version.encode()):
        digest.update(len(part).to_bytes(4, "big") + part)
    digest.update(body)
    return digest.hexdigest()


def decide(recorded: Recorded, request_fingerprint: str, now: datetime) -> Decision:
    """The fate of a request whose key has a record."""
    if recorded.expires_at <= now:
        return Decision.TAKE_OVER
    if recorded.fingerprint != request_fingerprint:
        return Decision.REUSED
    if recorded.state == COMPLETED:
        return Decision.REPLAY
    if recorded.locked_until <= now:
        return Decision.TAKE_OVER
    return Decision.IN_FLIGHT


def worth_keeping(status: int) -> bool:
    """Whether a response is final for its key; a server or upstream failure may be retried,
    and so may a 429 (the request was not run: over its rate limit)."""
    return status < 500 and status != 429


def replayed_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of a response that a replay repeats."""
    return [(k, v) for k, v in headers if k.lower() in REPLAYED_HEADERS]
