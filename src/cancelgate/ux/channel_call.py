"""What every UX API command checks before it acts, in APIKit's order: the channel client's
credentials, `X-Correlation-ID`, the business unit (served here, then given to the client),
then a JSON body."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from cancelgate.connect.body import is_json_content_type
from cancelgate.db.database import UnitOfWork
from cancelgate.json_input import NotJson, parse_json, single
from cancelgate.rate_limits import Family, RateLimiter
from cancelgate.ux.clients import authenticate
from cancelgate.ux.errors import UxError, bad_request, too_many_requests, unauthorized
from cancelgate.ux.middleware import correlation_id
from cancelgate.ux.requests import invalid

ISO_3166_ALPHA2 = re.compile(r"[A-Za-z]{2}")


@dataclass(frozen=True)
class ChannelCall:
    """A UX command that passed the checks: its business unit, correlation id and JSON body."""

    business_id: str
    correlation_id: str
    data: Any


async def channel_call(
    request: Request,
    uow: UnitOfWork,
    *,
    pepper: bytes,
    served_units: frozenset[str],
    business_id: str,
    not_served: Callable[[str], UxError],
    limiter: RateLimiter | None = None,
) -> ChannelCall:
    """The checked call, or the UX error of the first check it fails (`not_served` words the
    501 for a business unit this installation does not serve). With a `limiter`, the channel
    client's UX quota is counted once it is authenticated (429 over it)."""
    client = await authenticate(
        uow,
        pepper,
        single(request.headers.getlist("client_id")),
        single(request.headers.getlist("client_secret")),
    )
    if limiter is not None:
        await limiter.enforce(request.scope, Family.UX, client.client_id, too_many_requests)
    correlation = correlation_id(request.scope)
    if correlation is None:
        raise invalid("X-Correlation-ID", "header is required (1 to 200 printable characters)")
    if not ISO_3166_ALPHA2.fullmatch(business_id):
        raise invalid("businessId", "must be a 2-letter ISO 3166 country code")
    unit = business_id.upper()
    if unit not in served_units:
        raise not_served(unit)
    if unit not in client.business_units:
        raise unauthorized()
    if not is_json_content_type(single(request.headers.getlist("content-type"))):
        raise invalid("Content-Type", "must be application/json")
    try:
        data = parse_json(await request.body())
    except NotJson:
        raise bad_request() from None
    return ChannelCall(unit, correlation, data)
