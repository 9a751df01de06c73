"""Connect API: the caller's events, pulled (`GET …/webhooks/events`) or streamed
(`GET …/webhooks/events/stream`, server-sent events): the companion of webhook subscriptions.

Bearer token and X-API-VERSION (the webhook versions) as every webhook route; the feed is a
plain array, as every list of the webhook routes, with an RFC 8288 `Link: <…>; rel="next"`
when more events follow the page.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, RootModel
from starlette.responses import JSONResponse, Response

from cancelgate.auth.principal import Caller
from cancelgate.connect.errors import (
    CLIENT_VALIDATION,
    ConnectError,
    type_mismatch,
    validation_sub_error,
)
from cancelgate.connect.formats import instant
from cancelgate.connect.openapi import (
    SCHEMAS,
    ConnectErrorBody,
    answer,
    connect_errors,
    error_responses,
)
from cancelgate.connect.paths import parse_java_int
from cancelgate.connect.versions import WEBHOOK_VERSIONS, api_version
from cancelgate.dependencies import DatabaseDep, ListenerDep, Uow
from cancelgate.domain.errors import SubError
from cancelgate.webhooks import feed
from cancelgate.webhooks.delivery import event_headers
from cancelgate.webhooks.feed import (
    DEFAULT_LIMIT,
    FEED_TYPES,
    MAX_LIMIT,
    START,
    EventStream,
    EventStreamResponse,
    FeedEvent,
)

PREFIX = "/api/connect/webhooks/events"
router = APIRouter(prefix=PREFIX, tags=["Connect: webhooks"])
version = api_version(WEBHOOK_VERSIONS)
# The object the query's sub-errors name.
QUERY_OBJECT = "connectWebhookEventsQuery"
LAST_EVENT_ID = "Last-Event-ID"


# --- wire schemas (the OpenAPI document's; the bodies are shaped below) -----------------------


class EventHeadersBody(BaseModel):
    """The headers that every webhook delivery of the event carries, as it carries them; each
    delivery adds the sender's `User-Agent`, and each attempt its own `webhook-timestamp` and
    `webhook-signature`."""

    model_config = ConfigDict(populate_by_name=True)

    content_type: str = Field(alias="Content-Type", examples=["application/json"])
    z_event_type: str = Field(alias="z-event-type", examples=["appointment.cancelled.event"])
    z_notification_type: str = Field(
        alias="z-notification-type", examples=["appointment.cancelled.notification"]
    )
    z_notification_model: str = Field(alias="z-notification-model", examples=["appointment"])
    webhook_id: str = Field(alias="webhook-id", description="The event id: deduplicate on it")


class FeedEventBody(BaseModel):
    """An event, as its webhooks deliver it: the payload is the delivery's body."""

    id: str = Field(
        description="The event id (the deliveries' webhook-id); pass it as `after` to read on",
        json_schema_extra={"format": "uuid"},
    )
    type: str = Field(json_schema_extra={"enum": list(FEED_TYPES)})
    occurredAt: str = Field(examples=["2026-12-01T04:01:55Z"])
    payload: dict[str, Any]
    headers: EventHeadersBody


class FeedEventList(RootModel[list[FeedEventBody]]):
    """The caller's events after the cursor, oldest first."""


class EventStreamMessage(BaseModel):
    """One message of the event stream, sent as `id:`, `event:` and `data:` lines and a blank
    line; `: keep-alive` comment lines come in between when nothing happens for 15 s."""

    id: str = Field(
        description="The event id: send it back as Last-Event-ID to resume after it",
        json_schema_extra={"format": "uuid"},
    )
    event: str = Field(description="The event type", json_schema_extra={"enum": list(FEED_TYPES)})
    data: str = Field(
        description="The payload as the event's webhooks send it: JSON on one line",
        json_schema_extra={"contentMediaType": "application/json"},
    )


# --- documented parameters (read by hand below, so that errors have the Connect format) --------

_EVENT_ID = {"type": "string", "format": "uuid"}
_TYPE = {
    "name": "type",
    "in": "query",
    "required": False,
    "description": "Only events of this type",
    "schema": {"type": "string", "enum": list(FEED_TYPES)},
}
FEED_PARAMETERS = [
    {
        "name": "after",
        "in": "query",
        "required": False,
        "description": "The id of the last event you have: the page starts after it "
        "(without it, at your oldest event)",
        "schema": _EVENT_ID,
    },
    _TYPE,
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Events in the page",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "default": DEFAULT_LIMIT,
        },
    },
]
STREAM_PARAMETERS = [
    {
        "name": "after",
        "in": "query",
        "required": False,
        "description": "Send the events after this one first, then the rest as they happen "
        "(without it or Last-Event-ID, only those from now on)",
        "schema": _EVENT_ID,
    },
    _TYPE,
    {
        "name": LAST_EVENT_ID,
        "in": "header",
        "required": False,
        "description": "As `after`, and preferred to it: what an EventSource sends when it "
        "reconnects",
        "schema": _EVENT_ID,
    },
]
NEXT = {
    "Link": {
        "description": 'RFC 8288 `<…>; rel="next"`: the next page, when more events follow',
        "required": False,
        "schema": {"type": "string"},
    }
}
FEED_ERRORS = {
    400: "Missing or unsupported X-API-VERSION, `after` not an event id, or `limit` not an integer",
    422: "`limit` out of 1..1000, an unknown `type`, or `after` not the id of one of your "
    "events (see apiSubErrors)",
}
STREAM_ERRORS = {
    400: "Missing or unsupported X-API-VERSION, or `after` or `Last-Event-ID` not an event id",
    422: "An unknown `type`, or `Last-Event-ID` (or `after`) not the id of one of your events "
    "(see apiSubErrors)",
    503: "This server holds as many open streams and held requests as it may; retry after "
    "Retry-After seconds",
}


# The stream's 200: its messages (the schema each one follows, as OpenAPI 3.2 reads SSE).
STREAMED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "text/event-stream: one message per event as it happens, "
        "`: keep-alive` comments in between",
        "content": {"text/event-stream": {"schema": {"$ref": SCHEMAS + "EventStreamMessage"}}},
    }
}


def errors(texts: dict[int, str], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The Connect error responses, worded for the operation where `texts` says."""
    found = connect_errors(*(s for s in statuses if s not in texts))
    return found | error_responses(ConnectErrorBody, texts, *(s for s in statuses if s in texts))


# --- reading the query --------------------------------------------------------------------------

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _sent(values: list[str]) -> str | None:
    """A parameter as bound to a single value: absent, or what came (repeated values joined by
    commas, which then fails to parse as one value)."""
    return ",".join(values) if values else None


def event_id(value: str) -> uuid.UUID:
    """An event id, or the 400 `method.argument.type.mismatch` of a malformed one."""
    if not _UUID.fullmatch(value):
        raise ConnectError(
            400,
            CLIENT_VALIDATION,
            "method.argument.type.mismatch",
            "Failed to convert value of type 'java.lang.String' to required type "
            "'java.util.UUID'; nested exception is java.lang.IllegalArgumentException: "
            f"Invalid UUID string: {value}",
        )
    return uuid.UUID(value)


@dataclass(frozen=True)
class Cursor:
    """The event to start after (and which parameter named it), if any."""

    event_id: uuid.UUID | None = None
    field: str = "after"


@dataclass(frozen=True)
class Query:
    """The arguments of a feed or stream request."""

    cursor: Cursor
    types: tuple[str, ...]
    limit: int


def read_query(request: Request, *, stream: bool) -> Query:
    """The request's arguments; 400 for one that does not parse, then 422 listing every value
    out of bounds. On the stream, `Last-Event-ID` is preferred to `after` (a reconnecting
    EventSource sends it, to the URL that carried the first `after`)."""
    params = request.query_params
    after_text = _sent(params.getlist("after"))
    cursor = Cursor() if after_text is None else Cursor(event_id(after_text))
    if stream:
        last_text = _sent(request.headers.getlist(LAST_EVENT_ID))
        if last_text is not None:
            cursor = Cursor(event_id(last_text), LAST_EVENT_ID)
    limit = DEFAULT_LIMIT
    limit_text = None if stream else _sent(params.getlist("limit"))
    if limit_text is not None:
        parsed = parse_java_int(limit_text)
        if parsed is None:
            raise type_mismatch(limit_text)
        limit = parsed
    refused: list[SubError] = []
    if not 1 <= limit <= MAX_LIMIT:
        message = f"must be between 1 and {MAX_LIMIT}"
        refused.append(SubError("constraints.range", message, QUERY_OBJECT, "limit", limit))
    types: tuple[str, ...] = FEED_TYPES
    type_text = _sent(params.getlist("type"))
    if type_text is not None:
        types = (type_text,)
        if type_text not in FEED_TYPES:
            message = f"unknown event type; use {', '.join(FEED_TYPES)}"
            code = "constraints.webhook.event.unknown"
            refused.append(SubError(code, message, QUERY_OBJECT, "type", type_text))
    if refused:
        raise ConnectError(
            422,
            CLIENT_VALIDATION,
            "method.argument.not.valid",
            "Validation error",
            [validation_sub_error(e) for e in refused],
        )
    return Query(cursor, types, limit)


# --- shaping the answers -----------------------------------------------------------------------


def event_resource(found: FeedEvent) -> dict[str, Any]:
    """An event as the feed shows it: with the headers its deliveries carry (the same code
    makes both)."""
    event = found.event
    return {
        "id": str(event.id),
        "type": event.type,
        "occurredAt": instant(found.occurred_at),
        "payload": event.payload,
        "headers": event_headers(event),
    }


def next_link(request: Request, last: FeedEvent, limit: int) -> str:
    """`Link` to the page after `last`, with the request's type filter and limit."""
    query = {"after": str(last.event.id), "limit": str(limit)}
    type_text = request.query_params.get("type")
    if type_text is not None:
        query["type"] = type_text
    return f'<{PREFIX}?{urlencode(query)}>; rel="next"'


# --- routes -------------------------------------------------------------------------------------


@router.get(
    "",
    summary="The caller's events, oldest first, as their webhooks carry them",
    openapi_extra={"parameters": FEED_PARAMETERS},
    responses=answer(200, "Events after the cursor, oldest first", FeedEventList, NEXT)
    | errors(FEED_ERRORS, 400, 401, 422),
)
async def list_events(
    request: Request,
    principal: Caller,
    uow: Uow,
    _version: int = Depends(version),
) -> Response:
    """The caller's events after `after` (from the oldest without it), oldest first, `limit`
    (100) at most, each with the payload and headers its webhooks carry; `Link` to the next
    page when more follow. Only settled events are listed, so paging on never skips one."""
    query = read_query(request, stream=False)
    tenant_id = principal.tenant_id
    after = START
    if query.cursor.event_id is not None:
        after = await feed.position_of(
            uow,
            tenant_id=tenant_id,
            event_id=query.cursor.event_id,
            object_name=QUERY_OBJECT,
            field=query.cursor.field,
        )
    page = await feed.read_page(
        uow, tenant_id=tenant_id, types=query.types, after=after, limit=query.limit
    )
    headers: dict[str, str] = {}
    if page.more:
        headers["Link"] = next_link(request, page.events[-1], query.limit)
    return JSONResponse([event_resource(e) for e in page.events], headers=headers)


@router.get(
    "/stream",
    summary="The caller's events as they happen (server-sent events)",
    # No JSON: the 200 is the event stream documented below; the model only names its schema.
    response_class=Response,
    response_model=EventStreamMessage,
    openapi_extra={"parameters": STREAM_PARAMETERS},
    responses=STREAMED | errors(STREAM_ERRORS, 400, 401, 422, 503),
)
async def stream_events(
    request: Request,
    principal: Caller,
    uow: Uow,
    database: DatabaseDep,
    listener: ListenerDep,
    _version: int = Depends(version),
) -> Response:
    """A `text/event-stream` of the caller's events as they happen, each as `id:` (the event
    id), `event:` (its type) and `data:` (its payload, JSON on one line); after `Last-Event-ID`
    (or `after`), the events since that one first. Holds no database connection while it
    waits."""
    query = read_query(request, stream=True)
    tenant_id = principal.tenant_id
    if query.cursor.event_id is None:
        after = await feed.now_position(uow)
    else:
        after = await feed.position_of(
            uow,
            tenant_id=tenant_id,
            event_id=query.cursor.event_id,
            object_name=QUERY_OBJECT,
            field=query.cursor.field,
        )
    stream = EventStream(
        database=database, listener=listener, tenant_id=tenant_id, types=query.types, after=after
    )
    return EventStreamResponse(stream, request.receive)
