"""What the two clients share, none of it I/O: settings, the requests they send (paths, bodies,
headers, `Idempotency-Key`s), reading answers and errors, the retry, wait and stream policies,
and when a token is reused or fetched.

`AsyncClient` (`_async_client.py`) and the blocking `Client` (`_sync_client.py`, generated from
it without `async` and `await`) are the drivers: they send what this module builds, with
`httpx.AsyncClient` or `httpx.Client`, and sleep and take the token lock their own way.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlencode

import httpx

from cancelgate_client.errors import (
    ApiError,
    ConfigurationError,
    ConnectApiError,
    OAuthError,
    ProtocolError,
    TransportError,
    UxApiError,
    WaitTimeout,
)
from cancelgate_client.models import Accepted, Event, InProgress, Token
from cancelgate_client.polling import (
    PollPolicy,
    held_read_timeout,
    long_poll_seconds,
    next_delay,
    parse_retry_after,
    poll_pause,
    refresh_margin,
    resolve_location,
    wait_applied,
)
from cancelgate_client.sse import MessageReader
from cancelgate_client.tokens import (
    Credentials,
    StoredToken,
    TokenStore,
    load_private_key,
    token_form,
    token_key,
)

T = TypeVar("T")
HttpT = TypeVar("HttpT", httpx.Client, httpx.AsyncClient)
LockT = TypeVar("LockT")
# A token kept by an earlier run is used only with at least this long to live (a 401 would
# fetch a new one anyway, at the cost of a round trip).
STORED_TOKEN_MIN_SECONDS = 60
ApiKind = Literal["connect", "ux", "oauth"]

APPOINTMENT_CANCELLATIONS = "/api/connect/orders/appointment-cancellations"
SERVICE_CANCELLATIONS = "/api/connect/services/service-cancellations"
SERVICES = "/api/connect/services"
# One request's outcome, by id (`str.format`).
APPOINTMENT_REQUEST = f"{APPOINTMENT_CANCELLATIONS}/requests/{{}}"
SERVICE_REQUEST = f"{SERVICE_CANCELLATIONS}/requests/{{}}"
SANDBOX_SUBMIT = "/api/connect/sandbox/service-cancellations/requests/{}/submit"
SUBSCRIPTIONS = "/api/connect/webhooks/subscriptions"
UX_APPOINTMENT = "/ecom-ux/v1/{}/appointment/{}"
SANDBOX = "/api/connect/sandbox"
SANDBOX_CLOCK = f"{SANDBOX}/clock"
UX_SANDBOX_APPOINTMENTS = "/ecom-ux/v1/{}/sandbox/appointments"
EVENTS = "/api/connect/webhooks/events"
EVENT_STREAM = f"{EVENTS}/stream"
# The event stream sends a `: keep-alive` comment after 15 s without an event: a stream silent
# for this long is dead, and is reconnected.
STREAM_READ_TIMEOUT = 45.0
DEFAULT_VERSION = 8
# The service-cancellation endpoints stop at version 7 (the others serve 1..8).
SERVICE_CANCELLATION_LATEST = 7
# Answers that say "the same request again, a little later" (409: the idempotency key's
# first request is still running).
RETRIED_STATUSES = frozenset({409, 429, 503, 504})
# A server asking for a longer pause than this is answered with its error, not a hidden wait.
MAX_RETRY_WAIT = 10.0


@dataclass(frozen=True)
class PollUpdate:
    """What `on_poll` hears before each pause of a wait: polls so far, time spent, next pause."""

    location: str
    polls: int
    elapsed: float
    next_delay: float


OnPoll = Callable[[PollUpdate], None]


@dataclass(frozen=True)
class StreamUpdate:
    """What `on_connection` of `stream_events` hears: the stream connected (resuming after
    `last_event_id`), or it dropped (`error`) and the next attempt follows in `next_delay` s."""

    connected: bool
    last_event_id: str | None
    failures: int
    next_delay: float | None = None
    error: str | None = None


OnConnection = Callable[[StreamUpdate], None]


class BaseClient(Generic[HttpT, LockT]):
    """A client of one cancelgate server (or any server speaking the same APIs): its settings,
    its token cache and the rules of its calls. A driver subclass does the I/O."""

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        private_key: str | bytes | Path | None = None,
        key_id: str | None = None,
        token_url: str | None = None,
        api_version: int = DEFAULT_VERSION,
        ux_client_id: str | None = None,
        ux_client_secret: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        poll: PollPolicy | None = None,
        http: HttpT | None = None,
        rng: random.Random | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        """`http`: a connection pool of yours (left open on close); `token_store`: where tokens
        outlive this client (the command line's runs), if anywhere."""
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url or f"{self.base_url}/oauth/token"
        self.api_version = api_version
        self.retries = retries
        self.poll = poll or PollPolicy()
        self._credentials = (
            Credentials(
                client_id=client_id,
                client_secret=client_secret,
                private_key_pem=load_private_key(private_key) if private_key else None,
                key_id=key_id,
            )
            if client_id is not None
            else None
        )
        self._ux = (ux_client_id, ux_client_secret)
        self._http: HttpT = http if http is not None else self._open(timeout)
        self._owns_http = http is None
        self._rng = rng or random.Random()
        self._token: Token | None = None
        self._token_renew_at = 0.0
        self._token_lock: LockT = self._new_lock()
        self._token_store = token_store

    def _open(self, timeout: float) -> HttpT:
        """A connection pool of the client's own: the driver's kind of httpx client."""
        raise NotImplementedError

    def _new_lock(self) -> LockT:
        """The lock that lets one caller at a time fetch a token: the driver's kind."""
        raise NotImplementedError

    def _closing(self) -> bool:
        """Whether closing the client closes its pool now: its own, and not closed yet."""
        return self._owns_http and not self._http.is_closed

    # --- tokens (the driver holds the token lock around these) ---------------------------

    def _usable_token(self, refresh: bool) -> Token | None:
        """The cached token, or None when one is to be fetched (missing, near expiry or
        `refresh`); a token kept by an earlier run is taken up first."""
        if self._token is None and not refresh:
            stored = self._stored_token()
            if stored is not None:
                self._cache_token(stored)
        if refresh or self._token is None or time.monotonic() >= self._token_renew_at:
            return None
        return self._token

    def _token_request(self) -> tuple[Callable[[], dict[str, str]], httpx.Auth | None]:
        """The token request's form (made anew each attempt: a client assertion is single
        use) and its HTTP Basic credentials, if it authenticates with a secret."""
        credentials = self._credentials
        if credentials is None:
            raise ConfigurationError("no client_id (with client_secret or private_key)")
        auth = (
            httpx.BasicAuth(credentials.client_id, credentials.client_secret)
            if credentials.client_secret is not None
            else None
        )
        return lambda: token_form(credentials, self.token_url, int(time.time())), auth

    def _fetched_token(self, response: httpx.Response) -> Token:
        """The token endpoint's answer: the new token, cached and stored; else its error."""
        if response.status_code != 200:
            raise error(response, "oauth")
        token = Token.from_json(json_object(response))
        self._cache_token(token)
        self._store_token(token)
        return token

    def _cache_token(self, token: Token) -> None:
        self._token = token
        self._token_renew_at = (
            time.monotonic() + token.expires_in - refresh_margin(token.expires_in)
        )

    def _stored_token(self) -> Token | None:
        """The token a previous run kept, if it still has more than its renewal margin left."""
        if self._token_store is None or self._credentials is None:
            return None
        kept = self._token_store.load(token_key(self.token_url, self._credentials))
        if kept is None:
            return None
        left = kept.expires_at - time.time()
        if left < STORED_TOKEN_MIN_SECONDS:
            return None
        return Token(kept.access_token, kept.token_type, int(left))

    def _store_token(self, token: Token) -> None:
        if self._token_store is None or self._credentials is None:
            return
        key = token_key(self.token_url, self._credentials)
        expires_at = time.time() + token.expires_in
        self._token_store.save(key, StoredToken(token.access_token, token.token_type, expires_at))

    # --- requests -------------------------------------------------------------------------

    def _connect_headers(
        self,
        method: str,
        version: int | None,
        idempotency_key: str | None,
        headers: Mapping[str, str] | None,
    ) -> dict[str, str]:
        """A Connect call's headers, but its bearer token: the version, and on every POST (a
        command) an `Idempotency-Key`, which makes resending it safe."""
        sent = {**(headers or {}), "X-API-VERSION": str(version or self.api_version)}
        if method == "POST":
            idempotency_key = idempotency_key or new_key()
        if idempotency_key is not None:
            sent["Idempotency-Key"] = idempotency_key
        return sent

    def _ux_headers(self, correlation_id: str | None) -> dict[str, str]:
        """The UX API's channel credentials and correlation id (a fresh one if not given)."""
        client_id, client_secret = self._ux
        if client_id is None or client_secret is None:
            raise ConfigurationError("the UX API needs ux_client_id and ux_client_secret")
        return {
            "client_id": client_id,
            "client_secret": client_secret,
            "X-Correlation-ID": correlation_id or new_key(),
        }

    def _url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def _location(self, target: int | str, template: str) -> str:
        """An absolute URL from a Location (absolute or not) or an id."""
        if isinstance(target, int):
            return self._url(template.format(target))
        return resolve_location(self.base_url + "/", target, self.base_url)

    def _service_cancellation_version(self, version: int | None) -> int:
        """The version asked, else the client's down to the last one the service-cancellation
        endpoints serve."""
        return version or min(self.api_version, SERVICE_CANCELLATION_LATEST)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """The pause before sending a request again after this answer (409 in progress, 429,
        503, 504, with retries left and at most MAX_RETRY_WAIT asked); None: it is the answer."""
        if response.status_code not in RETRIED_STATUSES or attempt >= self.retries:
            return None
        if response.status_code == 409 and not in_progress(response):
            return None
        asked = parse_retry_after(response.headers.get("Retry-After"), now())
        if asked is not None and asked > MAX_RETRY_WAIT:
            return None
        return next_delay(attempt, asked, self.poll, self._rng)

    def _failure_delay(
        self, method: str, url: str, exc: httpx.TransportError, attempt: int
    ) -> float:
        """The pause before sending a request again after a transport failure; with no retry
        left, the failure raised as `TransportError`."""
        if attempt >= self.retries:
            raise TransportError(f"{method} {url}: {exc!r}") from exc
        return next_delay(attempt, None, self.poll, self._rng)

    # --- the request-reply loop -----------------------------------------------------------

    def _accepted(self, response: httpx.Response, idempotency_key: str) -> Accepted:
        """A command's answer: 201/204 + Location, else its error raised."""
        if response.status_code not in (201, 204):
            raise error(response, "connect")
        location = response.headers.get("Location")
        if not location:
            raise ProtocolError(f"{response.status_code} without a Location header")
        return Accepted(
            status=response.status_code,
            location=resolve_location(str(response.url), location, self.base_url),
            idempotency_key=idempotency_key,
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )

    def _poll_options(self, hold: int | None) -> tuple[dict[str, str], httpx.Timeout | None]:
        """A poll's headers and timeout: `Prefer: wait=hold` and a read timeout that outlasts
        the hold, if it asks the server to hold the answer."""
        if hold is None:
            return {}, None
        timeout = self._with_read_timeout(held_read_timeout(hold, self._http.timeout.read))
        return {"Prefer": f"wait={hold}"}, timeout

    def _with_read_timeout(self, read: float | None) -> httpx.Timeout:
        """The client's timeouts, with another read timeout."""
        default = self._http.timeout
        return httpx.Timeout(
            connect=default.connect, read=read, write=default.write, pool=default.pool
        )

    def _waiting(self, location: str, timeout: float | None, on_poll: OnPoll | None) -> Waiting:
        return Waiting(
            location,
            self.poll.timeout if timeout is None else timeout,
            self.poll,
            self._rng,
            on_poll,
        )

    def _event_stream(
        self, last_event_id: str | None, type: str | None, on_connection: OnConnection | None
    ) -> EventStream:
        return EventStream(
            url=self._url(EVENT_STREAM + (f"?{urlencode({'type': type})}" if type else "")),
            timeout=self._with_read_timeout(STREAM_READ_TIMEOUT),
            api_version=self.api_version,
            policy=self.poll,
            rng=self._rng,
            on_connection=on_connection,
            last_event_id=last_event_id,
        )


def polled(
    response: httpx.Response, location: str, parse: Callable[[dict[str, Any]], T]
) -> tuple[T | InProgress, bool]:
    """A poll's answer: the outcome, or `InProgress` for a 202 (errors raised); and whether the
    server held it (`Preference-Applied: wait`)."""
    held = wait_applied(response.headers.get_list("Preference-Applied"))
    if response.status_code == 202:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now())
        return InProgress(location=location, retry_after=retry_after), held
    return parse(expect(response, 200)), held


class Waiting:
    """One wait for an outcome: its deadline, the polls so far and the pause after each 202.

    Each poll is held by the server (`Prefer: wait`) when it will, else Retry-After is honoured
    or a jittered backoff follows; all bounded by the timeout."""

    def __init__(
        self,
        location: str,
        timeout: float,
        policy: PollPolicy,
        rng: random.Random,
        on_poll: OnPoll | None,
    ) -> None:
        self.location = location
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self.polls = 0
        self._policy = policy
        self._rng = rng
        self._on_poll = on_poll

    def hold(self) -> int | None:
        """The N of the next poll's `Prefer: wait=N` (None: long polling is off)."""
        return long_poll_seconds(self._policy, self.deadline - time.monotonic())

    def pause(self, outcome: InProgress, held: bool) -> float:
        """After a poll answered 202: the pause before the next (told to `on_poll` first), or,
        past the deadline, `WaitTimeout` raised."""
        self.polls += 1
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(self.location, time.monotonic() - self.started, self.polls)
        pause = poll_pause(self.polls - 1, outcome.retry_after, held, self._policy, self._rng)
        delay = min(pause, remaining)
        if self._on_poll is not None:
            elapsed = time.monotonic() - self.started
            self._on_poll(PollUpdate(self.location, self.polls, elapsed, delay))
        return delay


@dataclass
class EventStream:
    """One `stream_events`: where it resumes, the drops in a row, and what each answer means.

    A dropped connection (transport failure, silence past STREAM_READ_TIMEOUT, the server
    ending it, 429 or 5xx) is opened again with `Last-Event-ID` (the last event yielded) after a
    jittered pause that grows to `PollPolicy.maximum` (or `Retry-After`, up to MAX_RETRY_WAIT);
    a 401 is tried again once with a fresh token; other errors raise."""

    url: str
    timeout: httpx.Timeout
    api_version: int
    policy: PollPolicy
    rng: random.Random
    on_connection: OnConnection | None
    last_event_id: str | None
    # The next connection takes a freshly fetched token (after a 401).
    fresh: bool = False
    failures: int = 0
    retry_after: float | None = None
    error: str = ""
    reader: MessageReader | None = None

    def headers(self, token: Token) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {token.access_token}",
            "X-API-VERSION": str(self.api_version),
            "Accept": "text/event-stream",
        }
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        return headers

    def unauthorized(self, response: httpx.Response) -> bool:
        """A 401 to a token not fetched just now: connect again at once, with a fresh one."""
        if response.status_code == 401 and not self.fresh:
            self.fresh = True
            return True
        return False

    def refused(self, response: httpx.Response) -> None:
        """An answer other than 200 (its body read): a 429 or 5xx is a drop; others raise."""
        if response.status_code != 429 and response.status_code < 500:
            raise error(response, "connect")
        asked = parse_retry_after(response.headers.get("Retry-After"), now())
        self.retry_after = None if asked is None else min(asked, MAX_RETRY_WAIT)
        self.error = f"{response.status_code} {response.reason_phrase}"

    def connected(self) -> None:
        self.fresh = False
        self.failures = 0
        self.reader = MessageReader(self.last_event_id)
        if self.on_connection is not None:
            self.on_connection(StreamUpdate(True, self.last_event_id, 0))

    def feed(self, line: str) -> Event | None:
        """A line of the stream: the event its message completes, if it completes one."""
        assert self.reader is not None, "connected() first"
        message = self.reader.feed(line.rstrip("\r\n"))
        if message is None:
            return None
        event = streamed_event(message.last_event_id, message.event, message.data)
        self.last_event_id = event.id
        return event

    def ended(self) -> None:
        self.error = "the server ended the stream"

    def failed(self, exc: Exception) -> None:
        self.error = f"{exc.__class__.__name__}: {exc}"

    def pause(self) -> float:
        """After a drop: the pause before connecting again (told to `on_connection` first,
        which may raise to give up)."""
        delay = next_delay(self.failures, self.retry_after, self.policy, self.rng)
        self.failures += 1
        self.retry_after = None
        if self.on_connection is not None:
            update = StreamUpdate(False, self.last_event_id, self.failures, delay, self.error)
            self.on_connection(update)
        return delay


# --- answers ------------------------------------------------------------------------------


def expect(response: httpx.Response, status: int, api: ApiKind = "connect") -> dict[str, Any]:
    """The JSON object of a response with the expected status, else its error raised."""
    if response.status_code != status:
        raise error(response, api)
    return json_object(response)


def expect_list(
    response: httpx.Response, status: int = 200, api: ApiKind = "connect"
) -> list[dict[str, Any]]:
    """The JSON array of a response with the expected status, else its error raised."""
    if response.status_code != status:
        raise error(response, api)
    body = _json(response)
    if not isinstance(body, list):
        raise ProtocolError(f"expected a JSON array, got {response.text[:200]!r}")
    return [item for item in body if isinstance(item, dict)]


def expect_empty(response: httpx.Response, status: int = 204) -> None:
    """Nothing, from a response with the expected status; else its error raised."""
    if response.status_code != status:
        raise error(response, "connect")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProtocolError(f"{response.status_code}: not JSON: {response.text[:200]!r}") from None


def json_object(response: httpx.Response) -> dict[str, Any]:
    body = _json(response)
    if not isinstance(body, dict):
        raise ProtocolError(f"expected a JSON object, got {response.text[:200]!r}")
    return body


def error(response: httpx.Response, api: ApiKind) -> ApiError:
    """The exception for an error response, in the format of the API that answered it."""
    headers = dict(response.headers)
    body = _json_or_none(response)
    if isinstance(body, dict):
        if api == "connect" and "code" in body and "httpStatusCode" in body:
            return ConnectApiError(response.status_code, body, headers)
        if api == "ux" and isinstance(body.get("errors"), list):
            return UxApiError(response.status_code, body, headers)
        if api == "oauth" and "error" in body:
            return OAuthError(response.status_code, body, headers)
    text = response.text[:200] or response.reason_phrase
    raw = body if body is not None else response.text
    return ApiError(response.status_code, text, raw, headers)


def streamed_event(event_id: str | None, event_type: str, data: str) -> Event:
    """An event of the stream: `id:` the event id, `event:` its type, `data:` its payload."""
    if not event_id:
        raise ProtocolError(f"a {event_type} event without an id")
    try:
        payload = json.loads(data)
    except ValueError:
        raise ProtocolError(f"event {event_id}: data is not JSON: {data[:200]!r}") from None
    if not isinstance(payload, dict):
        raise ProtocolError(f"event {event_id}: data is not a JSON object: {data[:200]!r}")
    raw = {"id": event_id, "type": event_type, "payload": payload}
    return Event(
        id=event_id, type=event_type, payload=payload, occurred_at=None, headers={}, raw=raw
    )


def in_progress(response: httpx.Response) -> bool:
    """A 409 saying the idempotency key's first request is still running (worth a retry)."""
    body = _json_or_none(response)
    return isinstance(body, dict) and body.get("code") == "idempotency.key.in.progress"


def _json_or_none(response: httpx.Response) -> Any:
    """The body as JSON, or None when it is not JSON (error bodies may be anything)."""
    try:
        return response.json()
    except ValueError:
        return None


# --- what is sent -------------------------------------------------------------------------


def dated_body(service_id: int, cancellation_date: date | str) -> dict[str, Any]:
    """The body of a service cancellation's request or reschedule."""
    return {"serviceId": service_id, "cancellationDate": _iso_date(cancellation_date)}


def subscription_body(url: str, events: list[str], description: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url, "events": events}
    if description is not None:
        body["description"] = description
    return body


def given(**fields: Any) -> dict[str, Any]:
    """The fields that are not None (a PATCH's changes, a query)."""
    return {name: value for name, value in fields.items() if value is not None}


def events_path(after: str | None, type: str | None, limit: int | None) -> str:
    query = {name: str(value) for name, value in given(after=after, type=type, limit=limit).items()}
    return f"{EVENTS}?{urlencode(query)}" if query else EVENTS


def ux_appointment_path(business_id: str, appointment_id: str) -> str:
    return UX_APPOINTMENT.format(quote(business_id, safe=""), quote(appointment_id, safe=""))


def ux_sandbox_path(business_id: str) -> str:
    return UX_SANDBOX_APPOINTMENTS.format(quote(business_id, safe=""))


def clock_body(to: datetime | str | None, seconds: float | None) -> dict[str, Any]:
    """An advance of the test clock: to an instant (with its offset) or by seconds."""
    body: dict[str, Any] = {}
    if isinstance(to, datetime):
        if to.utcoffset() is None:
            raise ConfigurationError("to needs a time zone (RFC 3339 asks for an offset)")
        body["to"] = to.isoformat()
    elif to is not None:
        body["to"] = to
    if seconds is not None:
        body["seconds"] = seconds
    return body


def _iso_date(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


def new_key() -> str:
    return str(uuid.uuid4())


def now() -> datetime:
    return datetime.now(UTC)


def user_agent() -> dict[str, str]:
    """`cancelgate-client/<version>`."""
    from cancelgate_client import __version__

    return {"User-Agent": f"cancelgate-client/{__version__}"}
