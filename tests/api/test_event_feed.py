"""The events feed (`GET …/webhooks/events`) and the event stream (`…/events/stream`).

Three setups: the session's serve process (the feed: as a delivery carried it, pages, filters,
tenants, bad input); the app in this process, its stream driven by hand over ASGI 2.4 (no
framework watches for the caller going away on its behalf) with its listener in reach
(keep-alives, freed places, the process's limit, held events, order); and two `serve
--no-worker` processes and a separate `worker` on a database of their own (a stream on one API
process hears what the worker did for a POST to the other; `Last-Event-ID` resumes).

Every wait is bounded. Streams are woken by the database's notification: the heartbeat is 15 s
where a test waits 5 s (10 s across processes) for an event, so a stream that only looked
again at its heartbeat fails.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from fastapi import FastAPI
from psycopg.types.json import Json
from standardwebhooks.webhooks import Webhook
from starlette.types import Message, Scope

from cancelgate.app import create_app
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.db.urls import libpq_url
from cancelgate.keys import instance_keys_in
from cancelgate.settings import Settings
from cancelgate.upstream.nbn import scenarios
from cancelgate.webhooks import feed
from tests.api.checks import INSTANT, apoll_until, assert_error, assert_security_headers, poll
from tests.api.conftest import Caller, new_caller
from tests.receiver import receiving
from tests.support import REQUEST, SUBSCRIPTIONS, free_port, migrated_database, running

EVENTS = "/api/connect/webhooks/events"
STREAM = f"{EVENTS}/stream"
APPOINTMENT = "appointment.cancelled"
SERVICE = "service.cancelled"
REJECTED = "service.cancellation-rejected"
DELIVERY_HEADERS = [
    "Content-Type", "z-event-type", "z-notification-type", "z-notification-model", "webhook-id",
]  # fmt: skip
NEXT = re.compile(r'^<([^>]+)>; rel="next"$')
INSERT = (
    "INSERT INTO events (id, tenant_id, type, model, subject_id, payload) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


def compact(payload: Any) -> bytes:
    """A payload as deliveries send it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def payload_of(event_id: uuid.UUID) -> dict[str, Any]:
    """A payload whose text would break an SSE data line if it were not JSON-escaped."""
    return {"id": str(event_id), "note": "two\nlines\u2028and a separator", "n": 1}


async def insert(connection: psycopg.AsyncConnection[Any], tenant_id: int | None, kind: str) -> str:
    """An event written on this connection (in its transaction, if one is open); its id."""
    event_id = uuid.uuid4()
    model = kind.split(".", 1)[0]
    params = (event_id, tenant_id, kind, model, 1, Json(payload_of(event_id)))
    await connection.execute(INSERT, params)
    return str(event_id)


async def add_events(database_url: str, *events: tuple[int | None, str]) -> list[str]:
    """(tenant, type) events written and committed in one transaction, as a writer other than
    the API would (the trigger notifies all the same); their ids, in order."""
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as connection:
        return [await insert(connection, tenant_id, kind) for tenant_id, kind in events]


@asynccontextmanager
async def older_transaction(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A transaction that has its id (as any writer's) and stays open for the block; committed
    after it."""
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as connection:
        await connection.execute("SELECT pg_current_xact_id()")
        yield connection


async def feed_of(caller: Caller, **params: str) -> httpx.Response:
    return await caller.http.get(EVENTS, params=params, headers=caller.headers())


async def feed_ids(caller: Caller, **params: str) -> list[str]:
    response = await feed_of(caller, **params)
    assert response.status_code == 200, response.text
    return [event["id"] for event in response.json()]


def next_page(response: httpx.Response) -> str | None:
    """The path of the next page that `Link` names, if any."""
    link = response.headers.get("link")
    if link is None:
        return None
    found = NEXT.fullmatch(link)
    assert found is not None, link
    return found.group(1)


async def feed_with(caller: Caller, count: int, **params: str) -> httpx.Response:
    """The feed once it shows `count` events (committed events settle within moments)."""
    return await apoll_until(
        lambda: feed_of(caller, **params),
        lambda response: len(response.json()) >= count,
        timeout=10,
        what=f"{count} events in the feed",
    )


# --- the feed, on the session's serve process ---------------------------------------------------


async def test_the_feed_shows_an_event_as_its_webhook_delivery_carried_it(caller: Caller) -> None:
    with receiving() as receiver:
        subscribed = await caller.http.post(
            SUBSCRIPTIONS,
            json={"url": receiver.url, "events": [APPOINTMENT]},
            headers=caller.headers(),
        )
        assert subscribed.status_code == 201, subscribed.text
        appointment = await caller.appointment(scenarios.BOOKED)
        posted = await caller.http.post(
            REQUEST, json={"appointmentId": appointment.id}, headers=caller.headers()
        )
        assert posted.status_code == 201, posted.text
        [received] = await receiver.arrived(1)
    listed = await feed_with(caller, 1)
    assert_security_headers(listed)
    assert "link" not in listed.headers
    [event] = listed.json()
    assert set(event) == {"id", "type", "occurredAt", "payload", "headers"}
    assert (event["id"], event["type"]) == (received.headers["webhook-id"], APPOINTMENT)
    assert INSTANT.match(event["occurredAt"])
    assert event["payload"]["id"] == appointment.id
    # The delivery's body, byte for byte (key order included), and its headers, by the same code.
    assert compact(event["payload"]) == received.body
    assert list(event["headers"]) == DELIVERY_HEADERS
    assert {k.lower(): v for k, v in event["headers"].items()} == {
        k.lower(): received.headers[k.lower()] for k in DELIVERY_HEADERS
    }
    # With the attempt's own timestamp and signature they verify as the delivery did.
    attempt = {k: received.headers[k] for k in ("webhook-timestamp", "webhook-signature")}
    Webhook(subscribed.json()["secret"]).verify(
        compact(event["payload"]), {**event["headers"], **attempt}
    )


async def test_pages_run_in_order_after_a_cursor_and_filter_by_type(
    caller: Caller, other_caller: Caller, database_url: str
) -> None:
    me, them = caller.tenant_id, other_caller.tenant_id
    # Two in one transaction (seq orders them), then one transaction each.
    ids = await add_events(database_url, (me, APPOINTMENT), (me, SERVICE))
    for kind in (APPOINTMENT, REJECTED, APPOINTMENT):
        ids += await add_events(database_url, (me, kind))
    # Not in the caller's feed: another tenant's event, and a subscription's test event.
    [theirs, _] = await add_events(database_url, (them, APPOINTMENT), (me, "webhook.test"))

    everything = (await feed_with(caller, 5)).json()
    assert [e["id"] for e in everything] == ids
    assert [e["type"] for e in everything] == [
        APPOINTMENT,
        SERVICE,
        APPOINTMENT,
        REJECTED,
        APPOINTMENT,
    ]
    assert [e["payload"] for e in everything] == [payload_of(uuid.UUID(i)) for i in ids]

    pages: list[list[str]] = []
    path: str | None = f"{EVENTS}?limit=2"
    while path is not None:
        page = await caller.http.get(path, headers=caller.headers())
        assert page.status_code == 200, page.text
        pages.append([e["id"] for e in page.json()])
        path = next_page(page)
        assert len(pages) <= 3
    assert pages == [ids[:2], ids[2:4], ids[4:]]

    assert await feed_ids(caller, after=ids[1]) == ids[2:]
    assert await feed_ids(caller, after=ids[4]) == []
    assert await feed_ids(caller, type=APPOINTMENT) == [ids[0], ids[2], ids[4]]
    assert await feed_ids(caller, type=REJECTED, after=ids[0]) == [ids[3]]
    first = await feed_of(caller, type=APPOINTMENT, limit="1", after=ids[0])
    assert [e["id"] for e in first.json()] == [ids[2]]
    # The next page keeps the filter.
    following = next_page(first)
    assert following is not None and f"type={APPOINTMENT}" in following
    last = await caller.http.get(following, headers=caller.headers())
    assert [e["id"] for e in last.json()] == [ids[4]]
    assert "link" not in last.headers

    # Another tenant sees its own event only, and cannot tell the caller's ids from none.
    assert await feed_ids(other_caller) == [theirs]
    for cursor in (ids[0], str(uuid.uuid4())):
        refused = await feed_of(other_caller, after=cursor)
        body = assert_error(refused, 422, "client.validation", "validation")
        [sub] = body["apiSubErrors"]
        assert (sub["code"], sub["field"], sub["rejectedValue"]) == (
            "constraints.webhook.event.not.found", "after", cursor,
        )  # fmt: skip


async def test_an_event_committed_behind_an_older_transaction_waits_and_keeps_its_place(
    caller: Caller, database_url: str
) -> None:
    """seq is taken at insert, not at commit: the event of a transaction that is older but
    commits later must not be skipped by a reader that has already moved on."""
    async with older_transaction(database_url) as older:
        [newer] = await add_events(database_url, (caller.tenant_id, SERVICE))
        # Committed, but held: shown now, a cursor past it would skip what `older` commits.
        assert await feed_ids(caller) == []
        first = await insert(older, caller.tenant_id, APPOINTMENT)
    shown = await feed_with(caller, 2)
    assert [e["id"] for e in shown.json()] == [first, newer]


NOT_AN_ID = ("not-an-id", "{" + str(uuid.uuid4()) + "}", str(uuid.uuid4()).replace("-", ""))
# (query, status, code, the fields of the sub-errors); both operations read these alike.
BAD_FILTERS: list[tuple[dict[str, Any], int, str, list[str]]] = [
    *(({"after": text}, 400, "method.argument.type.mismatch", []) for text in NOT_AN_ID),
    ({"after": ["one", "two"]}, 400, "method.argument.type.mismatch", []),
    ({"type": "webhook.test"}, 422, "method.argument.not.valid", ["type"]),
    ({"type": [APPOINTMENT, SERVICE]}, 422, "method.argument.not.valid", ["type"]),
]
BAD_PAGES: list[tuple[dict[str, Any], int, str, list[str]]] = [
    ({"limit": "many"}, 400, "method.argument.type.mismatch", []),
    ({"limit": "1.5"}, 400, "method.argument.type.mismatch", []),
    ({"limit": ["1", "2"]}, 400, "method.argument.type.mismatch", []),
    ({"limit": "0"}, 422, "method.argument.not.valid", ["limit"]),
    ({"limit": "1001"}, 422, "method.argument.not.valid", ["limit"]),
    ({"limit": "-1", "type": "everything"}, 422, "method.argument.not.valid", ["limit", "type"]),
]


@pytest.mark.parametrize(
    ("path", "params", "status", "code", "fields"),
    [(EVENTS, *case) for case in BAD_FILTERS + BAD_PAGES]
    + [(STREAM, *case) for case in BAD_FILTERS],
)
async def test_bad_arguments_are_refused_in_the_connect_format(
    caller: Caller, path: str, params: dict[str, Any], status: int, code: str, fields: list[str]
) -> None:
    # Bounded: a stream opened by mistake would never end.
    response = await caller.http.get(path, params=params, headers=caller.headers(), timeout=5)
    body = assert_error(response, status, "client.validation", code)
    assert [sub["field"] for sub in body["apiSubErrors"]] == fields
    if fields:
        assert {sub["object"] for sub in body["apiSubErrors"]} == {"connectWebhookEventsQuery"}


async def test_the_stream_refuses_what_it_cannot_resume_from(caller: Caller) -> None:
    unknown = str(uuid.uuid4())
    for headers, params, field in (
        ({"Last-Event-ID": unknown}, {}, "Last-Event-ID"),
        ({}, {"after": unknown}, "after"),
    ):
        response = await caller.http.get(
            STREAM, params=params, headers=caller.headers(**headers), timeout=5
        )
        body = assert_error(response, 422, "client.validation", "validation")
        assert [(s["field"], s["rejectedValue"]) for s in body["apiSubErrors"]] == [
            (field, unknown)
        ]
    malformed = await caller.http.get(
        STREAM, headers=caller.headers(**{"Last-Event-ID": "42"}), timeout=5
    )
    assert_error(malformed, 400, "client.validation", "method.argument.type.mismatch")


@pytest.mark.parametrize("path", [EVENTS, STREAM])
async def test_token_and_version_come_first(caller: Caller, path: str) -> None:
    anonymous = await caller.http.get(path, headers={"X-API-VERSION": "8"}, timeout=5)
    assert_error(anonymous, 401, "client.access", "unauthorized")
    versionless = await caller.http.get(path, headers=caller.headers(None), timeout=5)
    assert_error(versionless, 400, "client.validation", "missing.request.header")
    unsupported = await caller.http.get(path, headers=caller.headers("9"), timeout=5)
    assert_error(unsupported, 400, "client.validation", "unsupported.api.version")
    posted = await caller.http.post(path, headers=caller.headers(), timeout=5)
    assert_error(posted, 405, "client.validation", "method.not.supported")
    assert posted.headers["allow"] == "GET"


# --- the stream, in this process (its listener in reach) -----------------------------------------


@dataclass
class InProcess:
    """The app, started in this process on a database of its own, and two tenants of it."""

    app: FastAPI
    database_url: str
    caller: Caller
    other: Caller


@pytest.fixture(scope="module")
def own_database(database_url: str) -> Iterator[str]:
    with migrated_database(database_url) as url:
        yield url


# At most two held requests or streams at once in this process.
IN_PROCESS_LIMIT = 2


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def here(
    own_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[InProcess]:
    settings = Settings.model_validate(
        {
            "DATABASE_URL": own_database,
            "data_dir": tmp_path_factory.mktemp("in-process"),
            "in_process_worker": False,
            "long_poll_max_waiting": IN_PROCESS_LIMIT,
            "principal_cache_seconds": 0,
        }
    )
    app = create_app(settings)
    engine = make_engine(own_database, pool_size=2)
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        ):
            sessions = make_sessionmaker(engine)
            async with sessions() as session:
                keys = await instance_keys_in(session)
            caller = await new_caller(http, sessions, keys)
            other = await new_caller(http, sessions, keys)
            yield InProcess(app, own_database, caller, other)
    finally:
        await engine.dispose()


class RawStream:
    """A GET of the stream, ASGI driven by hand. Spec 2.4: the app must notice the caller going
    away by itself (Starlette listens for it on the app's behalf only before 2.4)."""

    def __init__(self, app: FastAPI, caller: Caller, query: str = "") -> None:
        self._incoming: asyncio.Queue[Message] = asyncio.Queue()
        self._incoming.put_nowait({"type": "http.request", "body": b"", "more_body": False})
        self._sent: asyncio.Queue[Message] = asyncio.Queue()
        headers = [(b"host", b"testserver")]
        headers += [(k.lower().encode(), v.encode()) for k, v in caller.headers().items()]
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": STREAM,
            "raw_path": STREAM.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.task = asyncio.create_task(app(scope, self._incoming.get, self._sent.put))

    async def start(self) -> Message:
        """The response's start (status and headers)."""
        message = await asyncio.wait_for(self._sent.get(), 10)
        assert message["type"] == "http.response.start", message
        return message

    async def chunk(self, timeout: float = 5) -> bytes:
        message = await asyncio.wait_for(self._sent.get(), timeout)
        assert message["type"] == "http.response.body", message
        body: bytes = message["body"]
        return body

    async def event(self, timeout: float = 5) -> dict[str, str]:
        """The next message that is an event (keep-alive comments skipped)."""
        async with asyncio.timeout(timeout):
            while (chunk := await self.chunk(timeout)) == feed.KEEP_ALIVE:
                pass
        return parse_message(chunk.decode())

    async def leave(self) -> None:
        """Go away; returns once the app has finished the request."""
        await self._incoming.put({"type": "http.disconnect"})
        await asyncio.wait_for(self.task, 5)


def parse_message(text: str) -> dict[str, str]:
    """One SSE message's fields (one line each: the stream writes no multi-line data)."""
    assert text.endswith("\n\n"), text
    fields = dict(line.split(": ", 1) for line in text[:-2].split("\n"))
    assert list(fields) == ["id", "event", "data"], text
    return fields


def response_headers(start: Message) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in start["headers"]}


async def test_a_stream_sends_its_tenants_events_as_they_commit(here: InProcess) -> None:
    mine, theirs = RawStream(here.app, here.caller), RawStream(here.app, here.other)
    start = await mine.start()
    await theirs.start()
    headers = response_headers(start)
    assert start["status"] == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert (headers["cache-control"], headers["x-accel-buffering"]) == ("no-cache", "no")
    try:
        [first] = await add_events(here.database_url, (here.caller.tenant_id, APPOINTMENT))
        event = await mine.event()
        assert event == {
            "id": first,
            "event": APPOINTMENT,
            "data": compact(payload_of(uuid.UUID(first))).decode(),
        }
        # Another tenant's stream never carries it: its first event is its own.
        [second] = await add_events(here.database_url, (here.other.tenant_id, SERVICE))
        assert (await theirs.event())["id"] == second
    finally:
        await mine.leave()
        await theirs.leave()


async def test_a_quiet_stream_sends_keep_alive_comments(
    here: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "HEARTBEAT_SECONDS", 0.2)
    stream = RawStream(here.app, here.caller)
    assert (await stream.start())["status"] == 200
    try:
        assert await stream.chunk() == b": keep-alive\n\n"
        assert await stream.chunk() == b": keep-alive\n\n"
    finally:
        await stream.leave()


async def test_a_caller_that_goes_away_frees_its_place_at_once(here: InProcess) -> None:
    listener = here.app.state.listener
    assert listener.waiting == 0
    stream = RawStream(here.app, here.caller)
    await stream.start()
    assert listener.waiting == 1
    # Bounded at 5 s: well before the next keep-alive (15 s) would find the caller gone.
    await stream.leave()
    assert listener.waiting == 0


async def test_streams_past_the_process_limit_are_refused_until_one_goes_away(
    here: InProcess,
) -> None:
    held = [RawStream(here.app, here.caller) for _ in range(IN_PROCESS_LIMIT)]
    for stream in held:
        assert (await stream.start())["status"] == 200
    try:
        refused = RawStream(here.app, here.caller)
        start = await refused.start()
        assert (start["status"], response_headers(start)["retry-after"]) == (503, "5")
        body = json.loads(await refused.chunk())
        assert (body["httpStatusCode"], body["code"]) == (503, "server.busy")
        await asyncio.wait_for(refused.task, 5)
        assert here.app.state.listener.waiting == IN_PROCESS_LIMIT
        await held.pop().leave()
        again = RawStream(here.app, here.caller)
        assert (await again.start())["status"] == 200
        held.append(again)
    finally:
        for stream in held:
            await stream.leave()
    assert here.app.state.listener.waiting == 0


class Reads:
    """The pages this process's streams read, as they read them."""

    def __init__(self) -> None:
        self.pages: list[feed.Page] = []
        self._read = asyncio.Event()

    def add(self, page: feed.Page) -> None:
        self.pages.append(page)
        self._read.set()

    async def until(self, seen: Callable[[feed.Page], bool], timeout: float = 5) -> None:
        """Returns once a stream has read a page that `seen` accepts."""
        async with asyncio.timeout(timeout):
            while not any(seen(page) for page in self.pages):
                self._read.clear()
                await self._read.wait()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    found = Reads()
    read_page = feed.read_page

    async def observed(*args: Any, **kwargs: Any) -> feed.Page:
        page = await read_page(*args, **kwargs)
        found.add(page)
        return page

    monkeypatch.setattr(feed, "read_page", observed)
    return found


def shows(event_id: str) -> Callable[[feed.Page], bool]:
    return lambda page: any(str(found.event.id) == event_id for found in page.events)


async def test_a_held_event_is_sent_once_the_older_transaction_ends(
    here: InProcess, reads: Reads
) -> None:
    """The older transaction commits nothing of this tenant's, so no notification says when
    the held event settles: the stream must look again by itself."""
    stream = RawStream(here.app, here.caller)
    await stream.start()
    try:
        async with older_transaction(here.database_url):
            [held] = await add_events(here.database_url, (here.caller.tenant_id, REJECTED))
            # Woken by its notification, the stream has read it held (not sent: not settled).
            await reads.until(lambda page: page.held)
            assert not any(shows(held)(page) for page in reads.pages)
        assert (await stream.event())["id"] == held
    finally:
        await stream.leave()


async def test_the_stream_keeps_the_feed_order_whatever_the_commit_order(
    here: InProcess, reads: Reads
) -> None:
    stream = RawStream(here.app, here.caller, query=f"type={APPOINTMENT}")
    await stream.start()
    try:
        async with older_transaction(here.database_url) as older:
            [newer] = await add_events(here.database_url, (here.caller.tenant_id, APPOINTMENT))
            # The stream has read since `newer` committed (and must not have sent it yet).
            await reads.until(lambda page: page.held or shows(newer)(page))
            first = await insert(older, here.caller.tenant_id, APPOINTMENT)
            await insert(older, here.caller.tenant_id, SERVICE)  # filtered out
        assert [(await stream.event())["id"] for _ in range(2)] == [first, newer]
    finally:
        await stream.leave()


# --- the stream across processes: two API processes and a separate worker ---------------------


@dataclass
class Processes:
    """Two `serve --no-worker` processes and a `worker`, on a database of their own."""

    api1: str
    api2: str
    database_url: str


@pytest.fixture(scope="module")
def processes(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    logs: Path = tmp_path_factory.mktemp("event-stream-processes")
    api1, api2 = (f"http://127.0.0.1:{free_port()}" for _ in range(2))
    with migrated_database(database_url) as url:
        # One issuer for both API processes: a token is good at either.
        env = {
            "DATABASE_URL": url,
            "CANCELGATE_DATA_DIR": str(logs),
            "CANCELGATE_PUBLIC_BASE_URL": api1,
        }
        serve = ["serve", "--no-worker", "--port"]
        with (
            running([*serve, api1.rsplit(":", 1)[1]], env, logs / "api1.log", api1 + "/healthz"),
            running([*serve, api2.rsplit(":", 1)[1]], env, logs / "api2.log", api2 + "/healthz"),
            running(["worker"], env, logs / "worker.log", api2 + "/healthz"),
        ):
            yield Processes(api1, api2, url)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def tenant(processes: Processes) -> AsyncIterator[Caller]:
    """A tenant of the processes' database; its `http` talks to API process 2."""
    engine = make_engine(processes.database_url, pool_size=2)
    try:
        async with httpx.AsyncClient(base_url=processes.api2, timeout=30) as http:
            sessions = make_sessionmaker(engine)
            async with sessions() as session:
                keys = await instance_keys_in(session)
            yield await new_caller(http, sessions, keys)
    finally:
        await engine.dispose()


class SseReader:
    """Messages of a stream read over HTTP."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def event(self, timeout: float = 10) -> dict[str, str]:
        """The next event (comments skipped)."""
        async with asyncio.timeout(timeout):
            lines: list[str] = []
            while True:
                line = await anext(self._lines)
                if line:
                    lines.append(line)
                elif lines and not lines[0].startswith(":"):
                    return parse_message("\n".join(lines) + "\n\n")
                else:
                    lines = []


@asynccontextmanager
async def sse(
    base: str, caller: Caller, *, params: dict[str, str] | None = None, last_event_id: str = ""
) -> AsyncIterator[SseReader]:
    """A stream on its own connection; leaving the block closes it (the caller goes away)."""
    headers = caller.headers(**({"Last-Event-ID": last_event_id} if last_event_id else {}))
    async with (
        httpx.AsyncClient(base_url=base, timeout=30) as http,
        http.stream("GET", STREAM, params=params, headers=headers) as response,
    ):
        assert response.status_code == 200, await response.aread()
        yield SseReader(response)


async def cancel(caller: Caller, appointment_id: int) -> str:
    """POST a cancellation (to API process 2); its Location."""
    response = await caller.http.post(
        REQUEST, json={"appointmentId": appointment_id}, headers=caller.headers()
    )
    assert response.status_code == 201, response.text
    return response.headers["location"]


async def test_a_stream_on_one_api_process_hears_a_worker_finish_a_post_to_another(
    processes: Processes, tenant: Caller
) -> None:
    appointment = await tenant.appointment(scenarios.BOOKED)
    async with sse(processes.api1, tenant) as stream:
        headers = stream.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert (headers["cache-control"], headers["x-accel-buffering"]) == ("no-cache", "no")
        await cancel(tenant, appointment.id)  # API process 2; the job runs in the worker
        event = await stream.event()
    assert event["event"] == APPOINTMENT
    payload = json.loads(event["data"])
    assert (payload["id"], payload["status"]) == (appointment.id, "cancelled")
    # The feed (on the other process) shows the same event, the same bytes.
    [shown] = (await feed_with(tenant, 1)).json()
    assert shown["id"] == event["id"]
    assert compact(shown["payload"]).decode() == event["data"]


async def test_last_event_id_resumes_without_loss_or_duplicates(
    processes: Processes, tenant: Caller
) -> None:
    appointments = [(await tenant.appointment(scenarios.BOOKED)).id for _ in range(4)]
    async with sse(processes.api1, tenant) as stream:
        await cancel(tenant, appointments[0])
        seen = await stream.event()
    # While nobody listens, two more happen (their outcomes are final: the events committed).
    for appointment_id in appointments[1:3]:
        assert (await poll(tenant, await cancel(tenant, appointment_id))).status_code == 200
    # Resumed on the other API process: what was missed first, then what happens.
    async with sse(processes.api2, tenant, last_event_id=seen["id"]) as resumed:
        missed = [await resumed.event(), await resumed.event()]
        await cancel(tenant, appointments[3])
        live = await resumed.event()
    cancelled = [json.loads(e["data"])["id"] for e in (seen, *missed, live)]
    assert cancelled == appointments
    # `after` does the same, and a Last-Event-ID (a reconnecting EventSource's) wins over it.
    async with sse(
        processes.api1, tenant, params={"after": seen["id"]}, last_event_id=missed[0]["id"]
    ) as again:
        assert (await again.event())["id"] == missed[1]["id"]
        assert (await again.event())["id"] == live["id"]
