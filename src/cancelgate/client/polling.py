"""Pure rules of the request-reply loop and token reuse: when to ask again, and where."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from cancelgate.client.errors import ProtocolError


@dataclass(frozen=True)
class PollPolicy:
    """How `wait=True` polls: backoff from `initial` doubling to `maximum`, up to `timeout`."""

    initial: float = 0.25
    maximum: float = 5.0
    timeout: float = 120.0
    # Retry-After is a floor: wait up to this fraction longer, so callers told the same
    # moment do not all come back at once.
    retry_after_spread: float = 0.2


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` (seconds or HTTP-date); None if absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    polls: int, retry_after: float | None, policy: PollPolicy, rng: random.Random
) -> float:
    """The pause before poll number `polls + 1`: at least Retry-After, else jittered backoff."""
    if retry_after is not None:
        return retry_after * (1 + rng.uniform(0, policy.retry_after_spread))
    # Equal jitter: half the exponential step for sure, the other half at random.
    # The exponent is capped: past it the step is at its maximum anyway, and 2.0**1024 overflows.
    step = min(policy.maximum, policy.initial * 2.0 ** min(polls, 60))
    return step / 2 + rng.uniform(0, step / 2)


def resolve_location(request_url: str, location: str, base_url: str) -> str:
    """`Location` resolved against the URL that answered it (RFC 9110 §10.2.2), same origin only.

    A Location on another origin is refused: following it would hand the bearer token over.
    """
    resolved = urljoin(request_url, location)
    if _origin(resolved) != _origin(base_url):
        raise ProtocolError(f"Location {location!r} leaves {_origin(base_url)}: not followed")
    return resolved


DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def refresh_margin(expires_in: float) -> float:
    """How long before expiry a cached token is replaced: a tenth of its life, at most a minute."""
    return min(60.0, expires_in / 10)
