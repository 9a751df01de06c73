"""Rate limits per client and endpoint family, on the `limits` library: in this process's memory,
or shared by every process that names the same Redis (`CANCELGATE_REDIS_URL`).

**The algorithm.** Each family has a rate R and a burst B (settings). `limits` has no token
bucket; its moving window, "at most q hits in any w seconds" (a timestamp per hit), is used with
q = B and w = B / R seconds (rounded up to a whole second), because:

- it keeps both promises of a bucket: a client that was quiet may send B at once, and over any
  stretch longer than w it gets R a second (a hit leaves the window w seconds after it was made);
- it is exactly what the IETF RateLimit fields can say (draft-ietf-httpapi-ratelimit-headers):
  `RateLimit-Policy: "status";q=40;w=2` is the rule enforced, not an approximation of it. A
  token bucket admits up to B + R·w in a window of w, which no `q`/`w` pair describes;
- it differs from the bucket only right after a full burst: the bucket admits the next request
  1/R seconds later, the window when the burst's first hit leaves it; `t` and Retry-After say
  when, to the second;
- `limits` implements it atomically both in memory and in Redis (one Lua script per call): no
  algorithm of ours to get wrong, and the same code for both.

The fixed window admits 2q around a window's edge and the sliding window counter is an estimate
(it admits or refuses what the advertised policy would not): both rejected. The moving window
keeps up to q timestamps per client and family (40 at most with the defaults).

**Failed authentications** at the token endpoint are counted per client id in a window that
starts with the first failure; once `rate_limit_token_failures` have failed, every further
failure makes the next attempt for that client id wait 1 s, 2 s, 4 s … up to
`rate_limit_token_failure_max_delay_seconds`. An attempt during the wait is refused (429)
without its credentials being checked, and is not a failure: flooding does not lengthen the wait.
A success forgets the failures. Nothing is permanent: the wait never exceeds the maximum and the
count ends with its window.

**When the store fails** (Redis unreachable, or silent for 0.5 s), requests are admitted
without limit or RateLimit fields for the next 5 s (then the store is tried again) and a warning
is logged (at most every 30 s): the limits protect the service, they must not take it down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from limits.util import WindowStats
from starlette.types import Scope

from cancelgate.observability.metrics import count_rate_limited
from cancelgate.settings import Settings

log = structlog.get_logger(__name__)

# Where a request's RateLimit fields wait for its response (web/security.py adds them), so that
# every answer of a limited operation carries them: successes, errors and the 429 alike.
HEADERS_SCOPE_KEY = "cancelgate.rate_limit_headers"
# A Redis that does not answer within this is treated as failed (the request goes through),
# and is not asked again for a while.
REDIS_TIMEOUT_SECONDS = 0.5
STORE_RETRY_SECONDS = 5.0
UNAVAILABLE_LOG_INTERVAL_SECONDS = 30.0
# Client ids longer than this are nobody's (ours are short): not counted, not stored.
MAX_KEY_LENGTH = 128
# Failure waits double up to the maximum; past this exponent they are the maximum anyway.
MAX_DOUBLINGS = 30
# What a failing store raises: `limits` wraps the client's errors; sockets may still time out.
STORE_ERRORS = (StorageError, OSError)


class Family(StrEnum):
    """Endpoint families, each with its own quota per client; the names are the policies'."""

    STATUS = "status"  # the Connect status GETs
    COMMANDS = "commands"  # the Connect cancellation commands (POST)
    TOKENS = "tokens"  # tokens issued, per client id
    UX = "ux"  # the UX PATCH, per channel client


@dataclass(frozen=True)
class Policy:
    """At most `quota` requests in any `window` seconds, per client."""

    name: str
    quota: int
    window: int
    item: RateLimitItem = field(compare=False, repr=False)

    @classmethod
    def of_rate(cls, name: str, per_second: float, burst: int) -> Policy:
        """The window of a rate and a burst: burst requests in burst/rate seconds."""
        window = max(1, math.ceil(burst / per_second - 1e-9))
        return cls(name, burst, window, RateLimitItemPerSecond(burst, window))

    def field(self) -> str:
        """Its `RateLimit-Policy` item: `"status";q=40;w=2`."""
        return f'"{self.name}";q={self.quota};w={self.window}'


@dataclass(frozen=True)
class Verdict:
    """What a request was told: admitted or not, the quota left and when more comes."""

    policy: Policy
    allowed: bool
    remaining: int
    # Seconds until more quota is available (0: the quota is whole).
    reset: int

    @property
    def retry_after(self) -> int:
        """The `Retry-After` of a refusal: when the next request will be admitted."""
        return max(1, self.reset)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The `RateLimit-Policy` and `RateLimit` fields of the response."""
        limit = f'"{self.policy.name}";r={self.remaining};t={self.reset}'
        return [
            (b"ratelimit-policy", self.policy.field().encode()),
            (b"ratelimit", limit.encode()),
        ]


def policies_of(settings: Settings) -> dict[Family, Policy]:
    """Each family's policy, from the settings."""
    return {
        Family.STATUS: Policy.of_rate(
            Family.STATUS, settings.rate_limit_status_per_second, settings.rate_limit_status_burst
        ),
        Family.COMMANDS: Policy.of_rate(
            Family.COMMANDS,
            settings.rate_limit_commands_per_second,
            settings.rate_limit_commands_burst,
        ),
        Family.TOKENS: Policy.of_rate(
            Family.TOKENS,
            settings.rate_limit_tokens_per_minute / 60,
            settings.rate_limit_tokens_burst,
        ),
        Family.UX: Policy.of_rate(
            Family.UX, settings.rate_limit_ux_per_second, settings.rate_limit_ux_burst
        ),
    }


def storage_of(settings: Settings) -> Storage:
    """Redis when configured (`redis://…`, or `async+redis://…` as `limits` spells it), else
    this process's memory."""
    url = settings.redis_url
    if not url:
        return MemoryStorage(wrap_exceptions=True)
    uri = url if url.startswith("async+") else f"async+{url}"
    # redis-py's asyncio client: measured here a quarter faster a call than coredis (the
    # `limits` default), and every check is two calls.
    return RedisStorage(
        uri,
        wrap_exceptions=True,
        implementation="redispy",
        key_prefix=settings.rate_limit_key_prefix,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


def remember(scope: Scope, verdict: Verdict) -> None:
    """Leave the verdict's fields for the response (the last verdict of a request wins)."""
    scope[HEADERS_SCOPE_KEY] = verdict.headers()


def count_refused(family: Family) -> None:
    """Every refusal passes here: `cancelgate_rate_limited_total{family}`."""
    count_rate_limited(str(family))


Refuse = Callable[[int], Exception]
"""Builds the 429 of an API (its error format) from the Retry-After seconds."""


class RateLimiter:
    """The families' quotas and the failed-authentication slowdown of one process (its store
    shared with other processes through Redis)."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits
        self.policies = policies_of(settings)
        self.storage = storage_of(settings)
        self.windows = MovingWindowRateLimiter(self.storage)
        self.failures_allowed = settings.rate_limit_token_failures
        self.failure_window = settings.rate_limit_token_failure_window_seconds
        self.max_delay = settings.rate_limit_token_failure_max_delay_seconds
        self._unavailable_logged_at = -math.inf
        self._store_down_until = -math.inf

    async def enforce(self, scope: Scope, family: Family, key: str, refuse: Refuse) -> None:
        """Count this request against `key`'s quota in `family`; its response will carry the
        RateLimit fields; over the quota, `refuse(retry_after)` is raised."""
        if not self._counts(key):
            return
        policy = self.policies[family]
        try:
            admitted = await self.windows.hit(policy.item, family, key)
            stats = await self.windows.get_window_stats(policy.item, family, key)
        except STORE_ERRORS as exc:
            self._unavailable(exc)
            return
        verdict = _verdict(policy, admitted, stats)
        remember(scope, verdict)
        if not admitted:
            count_refused(family)
            raise refuse(verdict.retry_after)

    async def peek(self, scope: Scope, family: Family, key: str, refuse: Refuse) -> Verdict | None:
        """Like `enforce`, without counting the request (`take` counts it once it succeeded):
        the verdict, or None when not limited."""
        if not self._counts(key):
            return None
        policy = self.policies[family]
        try:
            stats = await self.windows.get_window_stats(policy.item, family, key)
        except STORE_ERRORS as exc:
            self._unavailable(exc)
            return None
        verdict = _verdict(policy, stats.remaining > 0, stats)
        remember(scope, verdict)
        if not verdict.allowed:
            count_refused(family)
            raise refuse(verdict.retry_after)
        return verdict

    async def take(self, scope: Scope, family: Family, key: str, peeked: Verdict) -> None:
        """Count a request that `peek` admitted; its fields then show the quota it used."""
        policy = peeked.policy
        try:
            await self.windows.hit(policy.item, family, key)
        except STORE_ERRORS as exc:
            self._unavailable(exc)
            return
        # What the store would say now, but for concurrent requests (no second round trip).
        reset = policy.window if peeked.remaining == policy.quota else peeked.reset
        remember(scope, Verdict(policy, True, max(0, peeked.remaining - 1), reset))

    async def failure_wait(self, key: str, refuse: Refuse) -> None:
        """Raise `refuse(seconds)` while `key` must wait after failed authentications."""
        if not self._counts(key):
            return
        try:
            if not await self.storage.get(_blocked(key)):
                return
            seconds = await self.storage.get_expiry(_blocked(key)) - time.time()
        except STORE_ERRORS as exc:
            self._unavailable(exc)
            return
        count_refused(Family.TOKENS)
        raise refuse(max(1, math.ceil(seconds)))

    async def failed(self, key: str) -> None:
        """One more failed authentication of `key`: past the allowance, the next attempt waits."""
        if not self._counts(key):
            return
        try:
            failures = await self.storage.incr(_failures(key), self.failure_window)
            beyond = failures - self.failures_allowed
            if beyond >= 0:
                delay = min(self.max_delay, 2 ** min(beyond, MAX_DOUBLINGS))
                await self.storage.incr(_blocked(key), delay)
        except STORE_ERRORS as exc:
            self._unavailable(exc)

    async def succeeded(self, key: str) -> None:
        """`key` authenticated: its failures are forgotten."""
        if not self._counts(key):
            return
        try:
            await self.storage.clear(_failures(key))
        except STORE_ERRORS as exc:
            self._unavailable(exc)

    def _counts(self, key: str) -> bool:
        """Whether requests of `key` are counted: limits on, a key of a sane length, and the
        store not given up on for now."""
        return (
            self.enabled
            and len(key) <= MAX_KEY_LENGTH
            and time.monotonic() >= self._store_down_until
        )

    def _unavailable(self, exc: Exception) -> None:
        now = time.monotonic()
        # Not asked again for a while: a Redis that times out would slow every request.
        self._store_down_until = now + STORE_RETRY_SECONDS
        if now - self._unavailable_logged_at >= UNAVAILABLE_LOG_INTERVAL_SECONDS:
            self._unavailable_logged_at = now
            cause = exc.storage_error if isinstance(exc, StorageError) else exc
            log.warning("rate_limits_unavailable", error=repr(cause))


def _failures(key: str) -> str:
    return f"token-failures/{key}"


def _blocked(key: str) -> str:
    return f"token-wait/{key}"


def _verdict(policy: Policy, admitted: bool, stats: WindowStats) -> Verdict:
    """The verdict of a window's stats: quota left, and seconds until more."""
    remaining = max(0, stats.remaining)
    reset = 0 if remaining >= policy.quota else max(0, math.ceil(stats.reset_time - time.time()))
    if not admitted:
        return Verdict(policy, False, 0, max(1, reset))
    return Verdict(policy, True, remaining, reset)
