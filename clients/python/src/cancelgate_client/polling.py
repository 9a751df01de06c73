"""Pure rules of the request-reply loop and token reuse: when to ask again, and where."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from cancelgate_client.errors import ProtocolError

# Never poll faster than this, even when told `Retry-After: 0` or after a held 202.
MIN_POLL_DELAY = 0.05
# Time allowed, past the N of `Prefer: wait=N`, for a held answer to arrive (server work, network).
HELD_READ_MARGIN = 10.0


@dataclass(frozen=True)
class PollPolicy:
    """How `wait=True` polls: backoff from `initial` doubling to `maximum`, up to `timeout`;
    each poll asks the server to hold it up to `long_poll` seconds (0: plain polling)."""

    initial: float = 0.25
    maximum: float = 5.0
    timeout: float = 120.0
    # Retry-After is a floor: wait up to this fraction longer, so callers told the same
    # moment do not all come back at once.
    retry_after_spread: float = 0.2
    # `Prefer: wait` (RFC 7240): a server that applies it answers when the outcome is final
    # instead of at once, so a wait needs one request rather than a poll per Retry-After.
    long_poll: int = 30


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


def long_poll_seconds(policy: PollPolicy, remaining: float) -> int | None:
    """The N of `Prefer: wait=N` for the next poll: the policy's seconds, at most the whole
    seconds left before the timeout, at least 1; None when long polling is off."""
    if policy.long_poll <= 0:
        return None
    # At least 1: `wait=0` is applied without holding, so the next poll would follow at once.
    return max(1, math.floor(min(float(policy.long_poll), remaining)))


def held_read_timeout(seconds: int, default: float | None) -> float | None:
    """The read timeout of a poll held up to `seconds`: room for the held answer, never shorter
    than the client's `default` (None: no limit, kept)."""
    if default is None:
        return None
    return max(default, seconds + HELD_READ_MARGIN)


def wait_applied(values: Iterable[str]) -> bool:
    """Whether `Preference-Applied` header values name `wait`: the server held the answer."""
    for value in values:
        for preference in value.split(","):
            name = preference.split(";", 1)[0].split("=", 1)[0]
            if name.strip().lower() == "wait":
                return True
    return False


def poll_pause(
    polls: int, retry_after: float | None, held: bool, policy: PollPolicy, rng: random.Random
) -> float:
    """The pause after a 202: next to none when the server already held it, else `next_delay`;
    never under MIN_POLL_DELAY."""
    if held:
        # The server has waited already; the floor stops a server that only claims it did
        # from making a hot loop.
        return MIN_POLL_DELAY
    return max(MIN_POLL_DELAY, next_delay(polls, retry_after, policy, rng))


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
