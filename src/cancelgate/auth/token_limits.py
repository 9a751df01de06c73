"""The token endpoint's limits, per client id (the one the request names, before it is verified):
tokens issued (the `tokens` quota) and the slowdown after failed authentications.

Only issued tokens count against the quota, so an attacker who names someone else's client id
spends none of it; their failures slow that client id down instead, boundedly (see
cancelgate/rate_limits.py). Either refusal comes before the credentials are checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.types import Scope

from cancelgate.auth.oauth_errors import OAuthError, too_many_requests
from cancelgate.rate_limits import Family, RateLimiter


def _too_many_tokens(retry_after: int) -> OAuthError:
    return too_many_requests(
        f"too many tokens requested for this client id; retry after {retry_after} s",
        retry_after,
    )


def _too_many_failures(retry_after: int) -> OAuthError:
    return too_many_requests(
        f"too many failed authentications for this client id; retry after {retry_after} s",
        retry_after,
    )


@asynccontextmanager
async def token_limits(
    limiter: RateLimiter, scope: Scope, client_id: str | None
) -> AsyncIterator[None]:
    """Around the grant: 429 (OAuthError) while the client id is over its quota or must wait
    after failures; then a failed authentication (invalid_client) is counted, and an issued
    token counted against the quota and the failures forgotten."""
    if client_id is None:
        yield
        return
    peeked = await limiter.peek(scope, Family.TOKENS, client_id, _too_many_tokens)
    await limiter.failure_wait(client_id, _too_many_failures)
    try:
        yield
    except OAuthError as exc:
        if exc.error == "invalid_client":
            await limiter.failed(client_id)
        raise
    if peeked is not None:
        await limiter.take(scope, Family.TOKENS, client_id, peeked)
    await limiter.succeeded(client_id)
