"""`cancelgate client …`: the Python client from the shell, for people and for scripts."""

from __future__ import annotations

import dataclasses
import json
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import IntEnum, StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import httpx
import typer

from cancelgate_client._base import EVENTS, OnPoll, PollUpdate, StreamUpdate
from cancelgate_client._sync_client import Client
from cancelgate_client.errors import (
    ApiError,
    CancelgateError,
    ConfigurationError,
    OAuthError,
    TransportError,
    WaitTimeout,
)
from cancelgate_client.listen import listen_secret, signed_delivery
from cancelgate_client.models import Accepted, Event
from cancelgate_client.polling import PollPolicy, next_delay
from cancelgate_client.profiles import Profile, ProfileError, load_profile
from cancelgate_client.tokens import FileTokenStore, default_token_directory

T = TypeVar("T")


class Exit(IntEnum):
    """Exit codes that tell outcomes apart (2 is the usage error of the command line itself)."""

    OK = 0
    FAILED = 1
    USAGE = 2
    REFUSED = 3
    NOT_FOUND = 4
    TRANSPORT = 5
    UNAUTHORIZED = 6
    TIMED_OUT = 7


app = typer.Typer(
    help=(
        "Call a cancelgate server (or any server speaking its APIs). Profile: "
        "--config/--profile, --demo-file, then CANCELGATE_URL, CANCELGATE_CLIENT_ID, "
        "CANCELGATE_CLIENT_SECRET, … (see the README). Exit codes: 0 ok, 3 refused (400/409/"
        "422), 4 not found, 5 transport failure, 6 unauthorized, 7 wait timed out, 1 other."
    ),
    no_args_is_help=True,
)
appointments_app = typer.Typer(
    help="Appointment cancellations (Connect API).", no_args_is_help=True
)
services_app = typer.Typer(help="Service cancellations (Connect API).", no_args_is_help=True)
ux_app = typer.Typer(help="The UX API (TMF646 cancel appointment).", no_args_is_help=True)
webhooks_app = typer.Typer(help="Webhook subscriptions and deliveries.", no_args_is_help=True)
app.add_typer(appointments_app, name="appointments")
app.add_typer(services_app, name="services")
app.add_typer(ux_app, name="ux")
app.add_typer(webhooks_app, name="webhooks")
fixtures_app = typer.Typer(help="Sandbox: fixtures on demand.", no_args_is_help=True)
clock_app = typer.Typer(help="Sandbox: your tenant's test clock.", no_args_is_help=True)
app.add_typer(fixtures_app, name="fixtures")
app.add_typer(clock_app, name="clock")


@dataclasses.dataclass
class Options:
    """What the options before the command chose."""

    profile: Profile
    json: bool
    quiet: bool
    long_poll: int


Wait = Annotated[bool, typer.Option("--wait", help="Poll the Location until the outcome is final.")]
Timeout = Annotated[float, typer.Option("--timeout", help="Give up waiting after this many s.")]
Version = Annotated[int | None, typer.Option("--api-version", help="X-API-VERSION for this call.")]
Day = Annotated[str, typer.Option("--date", help="Cancellation date, YYYY-MM-DD.")]
# --timeout and --long-poll default to the client's own.
DEFAULT_TIMEOUT = PollPolicy().timeout
DEFAULT_LONG_POLL = PollPolicy().long_poll


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[str | None, typer.Option(help="Profile in the config file.")] = None,
    config: Annotated[Path | None, typer.Option(help="Config file (TOML).")] = None,
    demo_file: Annotated[
        Path | None, typer.Option(help="Use the sandbox of `serve --demo` (its demo.json).")
    ] = None,
    url: Annotated[str | None, typer.Option(help="Base URL of the server.")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="JSON on stdout, for scripts.")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress while waiting.")] = False,
    long_poll: Annotated[
        int,
        typer.Option(
            min=0, help="--wait: let the server hold each poll this many s (Prefer); 0: off."
        ),
    ] = DEFAULT_LONG_POLL,
) -> None:
    """Choose the server and credentials for the command that follows."""
    try:
        chosen = load_profile(profile, config=config, demo_file=demo_file)
    except ProfileError as exc:
        _fail(Exit.USAGE, str(exc), {"usage": str(exc)}, json_output)
    if url:
        chosen = dataclasses.replace(chosen, base_url=url)
    ctx.obj = Options(profile=chosen, json=json_output, quiet=quiet, long_poll=long_poll)


@app.command()
def token(ctx: typer.Context) -> None:
    """Print an access token (client_secret or private_key_jwt): the one kept from an earlier
    command while it lasts, else a new one."""
    with _client(ctx) as (api, options):
        issued = _call(options, lambda: api.token())
        if options.json:
            _print_json(dataclasses.asdict(issued))
        else:
            typer.echo(issued.access_token)
            typer.echo(f"expires in {issued.expires_in} s", err=True)


@appointments_app.command("cancel")
def appointments_cancel(
    ctx: typer.Context,
    appointment_id: int,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    api_version: Version = None,
) -> None:
    """Request an appointment's cancellation; with --wait, its outcome."""
    _command(
        ctx,
        lambda api: api.cancel_appointment(appointment_id, version=api_version),
        Client.wait_appointment_cancellation,
        wait,
        timeout,
        api_version,
    )


@appointments_app.command("status")
def appointments_status(
    ctx: typer.Context,
    request: Annotated[str, typer.Argument(help="Request id, or the Location of the request.")],
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    api_version: Version = None,
) -> None:
    """The outcome of a cancellation request (202: still in progress)."""
    target = _id_or_location(request)
    with _client(ctx) as (api, options):
        _followed(
            api,
            options,
            Client.wait_appointment_cancellation,
            target,
            lambda: api.appointment_cancellation(target, version=api_version),
            wait,
            timeout,
            api_version,
        )


@services_app.command("cancel")
def services_cancel(
    ctx: typer.Context,
    service_id: int,
    day: Day,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    api_version: Version = None,
) -> None:
    """Request a service's cancellation on a date (today or later)."""
    _command(
        ctx,
        lambda api: api.request_service_cancellation(service_id, day, version=api_version),
        Client.wait_service_cancellation,
        wait,
        timeout,
        api_version,
    )


@services_app.command("reschedule")
def services_reschedule(
    ctx: typer.Context,
    service_id: int,
    day: Day,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    api_version: Version = None,
) -> None:
    """Move a REQUESTED or IN_ERROR cancellation to another date."""
    _command(
        ctx,
        lambda api: api.reschedule_service_cancellation(service_id, day, version=api_version),
        Client.wait_service_cancellation,
        wait,
        timeout,
        api_version,
    )


@services_app.command("abort")
def services_abort(
    ctx: typer.Context,
    service_id: int,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    api_version: Version = None,
) -> None:
    """Abort a REQUESTED or IN_ERROR cancellation."""
    _command(
        ctx,
        lambda api: api.abort_service_cancellation(service_id, version=api_version),
        Client.wait_service_cancellation,
        wait,
        timeout,
        api_version,
    )


@services_app.command("submit")
def services_submit(
    ctx: typer.Context,
    service_id: int,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    api_version: Version = None,
) -> None:
    """Sandbox only: submit a REQUESTED cancellation to the nbn now."""
    _command(
        ctx,
        lambda api: api.submit_service_cancellation(service_id, version=api_version),
        Client.wait_service_cancellation,
        wait,
        timeout,
        api_version,
    )


@services_app.command("status")
def services_status(
    ctx: typer.Context,
    service_id: int,
    wait: Wait = False,
    timeout: Timeout = DEFAULT_TIMEOUT,
    api_version: Version = None,
) -> None:
    """A service's cancellation (202 while it is being submitted to the nbn)."""
    with _client(ctx) as (api, options):
        _followed(
            api,
            options,
            Client.wait_service_cancellation,
            service_id,
            lambda: api.service_cancellation(service_id, version=api_version),
            wait,
            timeout,
            api_version,
        )


@services_app.command("show")
def services_show(ctx: typer.Context, service_id: int, api_version: Version = None) -> None:
    """A service, its eligibility and its latest cancellation."""
    with _client(ctx) as (api, options):
        _show(options, _call(options, lambda: api.service(service_id, version=api_version)))


@ux_app.command("cancel")
def ux_cancel(
    ctx: typer.Context,
    business_id: str,
    appointment_id: str,
    order_class: Annotated[str, typer.Option(help="S (installation) or T (technical).")],
    reason: Annotated[str, typer.Option(help="CR (customer requested) or CA.")] = "CR",
    billing_account: Annotated[
        str | None, typer.Option(help="The customer's billing account (order class S).")
    ] = None,
    correlation_id: Annotated[
        str | None, typer.Option(help="X-Correlation-ID (a new UUID by default).")
    ] = None,
) -> None:
    """Cancel an appointment in the billing system, synchronously."""
    with _client(ctx) as (api, options):
        _show(
            options,
            _call(
                options,
                lambda: api.cancel_ux_appointment(
                    business_id,
                    appointment_id,
                    order_class=order_class,
                    reason=reason,
                    billing_account=billing_account,
                    correlation_id=correlation_id,
                ),
            ),
        )


@webhooks_app.command("list")
def webhooks_list(ctx: typer.Context) -> None:
    """Your subscriptions."""
    with _client(ctx) as (api, options):
        _show_list(options, _call(options, api.subscriptions))


@webhooks_app.command("create")
def webhooks_create(
    ctx: typer.Context,
    url: str,
    event: Annotated[
        list[str], typer.Option("--event", help="appointment.cancelled, service.cancelled, …")
    ],
    description: Annotated[str | None, typer.Option(help="A note for you.")] = None,
) -> None:
    """Subscribe a URL; prints the signing secret (shown this once)."""
    with _client(ctx) as (api, options):
        _show(
            options,
            _call(options, lambda: api.create_subscription(url, event, description=description)),
        )


@webhooks_app.command("deliveries")
def webhooks_deliveries(ctx: typer.Context, subscription_id: int) -> None:
    """The subscription's latest deliveries and their attempts."""
    with _client(ctx) as (api, options):
        _show_list(options, _call(options, lambda: api.deliveries(subscription_id)))


@webhooks_app.command("redeliver")
def webhooks_redeliver(ctx: typer.Context, subscription_id: int, delivery_id: int) -> None:
    """Send a delivery again, with the same webhook-id."""
    with _client(ctx) as (api, options):
        _show(options, _call(options, lambda: api.redeliver(subscription_id, delivery_id)))


@webhooks_app.command("test")
def webhooks_test(ctx: typer.Context, subscription_id: int) -> None:
    """Send a `webhook.test` event to the subscription."""
    with _client(ctx) as (api, options):
        _show(options, _call(options, lambda: api.send_test_event(subscription_id)))


@webhooks_app.command("delete")
def webhooks_delete(ctx: typer.Context, subscription_id: int) -> None:
    """Delete a subscription."""
    with _client(ctx) as (api, options):
        _call(options, lambda: api.delete_subscription(subscription_id))
        if options.json:
            _print_json({"deleted": subscription_id})
        else:
            typer.echo(f"deleted subscription {subscription_id}")


# --- the sandbox ----------------------------------------------------------------------


class FixtureKind(StrEnum):
    """What `fixtures create` makes."""

    APPOINTMENTS = "appointments"
    SERVICES = "services"
    UX = "ux"


class TriggeredEvent(StrEnum):
    """The events `trigger` makes happen."""

    APPOINTMENT_CANCELLED = "appointment.cancelled"
    SERVICE_CANCELLED = "service.cancelled"
    SERVICE_CANCELLATION_REJECTED = "service.cancellation-rejected"


# The event types of the events feed and stream (README, "Webhooks").
EVENT_TYPES = tuple(e.value for e in TriggeredEvent)
# The fixture scenario whose cancellation ends in each event (README, the scenario tables).
TRIGGER_SCENARIOS = {
    TriggeredEvent.APPOINTMENT_CANCELLED: "booked",
    TriggeredEvent.SERVICE_CANCELLED: "active",
    TriggeredEvent.SERVICE_CANCELLATION_REJECTED: "rejected-by-nbn",
}
# The business unit of the sandbox's UX fixtures (the demo seed's).
DEFAULT_BUSINESS_ID = "PR"
DAY_SECONDS = 86_400
# How long `listen` gives the developer's endpoint to answer (as a real delivery: 15 s).
FORWARD_TIMEOUT = 15.0
# Events `trigger` reads from the feed at a time, and how often it looks again.
FEED_PAGE = 1000
TRIGGER_POLL = PollPolicy(initial=0.25, maximum=1.0)


@fixtures_app.command("scenarios")
def fixtures_scenarios(ctx: typer.Context) -> None:
    """Every scenario a fixture can play, and what cancelling it does."""
    with _client(ctx) as (api, options):
        catalogue = _call(options, api.scenarios)
        if options.json:
            _print_json(catalogue.raw)
            return
        for kind, scenarios in (
            (FixtureKind.APPOINTMENTS, catalogue.appointments),
            (FixtureKind.SERVICES, catalogue.services),
            (FixtureKind.UX, catalogue.ux),
        ):
            typer.echo(f"{kind}:")
            for found in scenarios:
                typer.echo(f"  {found.scenario}: {found.description} -> {found.outcome}")


@fixtures_app.command("create")
def fixtures_create(
    ctx: typer.Context,
    kind: FixtureKind,
    scenario: Annotated[str, typer.Argument(help="See `fixtures scenarios`.")],
    count: Annotated[int, typer.Option(min=1, help="How many (the server takes 1 to 1000).")] = 1,
    business_id: Annotated[
        str | None, typer.Option(help=f"ux: the business unit ({DEFAULT_BUSINESS_ID}).")
    ] = None,
) -> None:
    """Make fixtures that play a scenario; prints the JSON array made.

    Of your tenant; ux fixtures of the business unit, with the UX channel credentials.
    """
    options: Options = ctx.obj
    if business_id is not None and kind is not FixtureKind.UX:
        message = "--business-id is for ux fixtures"
        _fail(Exit.USAGE, message, {"usage": message}, options.json)
    with _client(ctx) as (api, _):
        made: list[dict[str, Any]]
        if kind is FixtureKind.APPOINTMENTS:
            made = [f.raw for f in _call(options, lambda: api.create_appointments(scenario, count))]
        elif kind is FixtureKind.SERVICES:
            made = [f.raw for f in _call(options, lambda: api.create_services(scenario, count))]
        else:
            unit = business_id or DEFAULT_BUSINESS_ID
            made = [
                f.raw
                for f in _call(options, lambda: api.create_ux_appointments(unit, scenario, count))
            ]
        _print_json(made)


@clock_app.command("show")
def clock_show(ctx: typer.Context) -> None:
    """Your tenant's test clock: `now` (business time zone) and `offsetSeconds`; prints JSON."""
    with _client(ctx) as (api, options):
        _print_json(_call(options, api.clock).raw)


@clock_app.command("advance")
def clock_advance(
    ctx: typer.Context,
    to: Annotated[str | None, typer.Option(help="To this RFC 3339 instant (with offset).")] = None,
    seconds: Annotated[float | None, typer.Option(help="Forward by this many seconds.")] = None,
    days: Annotated[float | None, typer.Option(help="Forward by this many days.")] = None,
) -> None:
    """Move your tenant's test clock forward (what came due then runs); prints the new clock."""
    options: Options = ctx.obj
    if sum(given is not None for given in (to, seconds, days)) != 1:
        message = "give one of --to, --seconds and --days"
        _fail(Exit.USAGE, message, {"usage": message}, options.json)
    step = days * DAY_SECONDS if days is not None else seconds
    with _client(ctx) as (api, _):
        _print_json(_call(options, lambda: api.advance_clock(to, step)).raw)


@app.command()
def trigger(
    ctx: typer.Context,
    event: Annotated[TriggeredEvent, typer.Argument(help="The event to make happen.")],
    timeout: Annotated[
        float, typer.Option("--timeout", help="Give up waiting for the event after this many s.")
    ] = 60.0,
) -> None:
    """Sandbox: make a fixture and drive it until the event happens; prints both.

    appointment.cancelled: a booked appointment, cancelled. service.cancelled and
    service.cancellation-rejected: an active (or rejected-by-nbn) service, its cancellation
    requested for today on your test clock. The event is the events feed's.
    """
    scenario = TRIGGER_SCENARIOS[event]
    with _client(ctx) as (api, options):
        created: dict[str, Any]
        if event is TriggeredEvent.APPOINTMENT_CANCELLED:
            [appointment] = _call(options, lambda: api.create_appointments(scenario))
            created, subject = appointment.raw, ("id", appointment.appointment_id)
            accepted = _call(options, lambda: api.cancel_appointment(appointment.appointment_id))
        else:
            [service] = _call(options, lambda: api.create_services(scenario))
            created, subject = service.raw, ("serviceId", service.service_id)
            # "Today" is the business date on the tenant's test clock, as the server judges it.
            today = _call(options, api.clock).now.date()
            accepted = _call(
                options, lambda: api.request_service_cancellation(service.service_id, today)
            )
        found = _call(options, lambda: _await_event(api, event, subject, timeout))
        if options.json:
            _print_json({"created": created, "requested": accepted.location, "event": found.raw})
            return
        typer.echo(f"created: {json.dumps(created)}")
        typer.echo(f"requested: {_title(accepted)}")
        typer.echo(f"event: {found.type} {found.id} at {_text(found.occurred_at)}")
        _print_json(found.payload)


def _await_event(api: Client, event_type: str, subject: tuple[str, int], timeout: float) -> Event:
    """The first event of this type in the events feed whose payload names the subject (key,
    id), read page after page from the oldest, looking again until `timeout`."""
    started = time.monotonic()
    rng = random.Random()
    key, subject_id = subject
    after: str | None = None
    polls = 0
    while True:
        page = api.events(after=after, type=event_type, limit=FEED_PAGE)
        polls += 1
        for found in page:
            if found.payload.get(key) == subject_id:
                return found
        if page:
            after = page[-1].id
        if len(page) == FEED_PAGE:
            continue
        elapsed = time.monotonic() - started
        if elapsed >= timeout:
            raise WaitTimeout(f"{api.base_url}{EVENTS}?type={event_type}", elapsed, polls)
        time.sleep(min(next_delay(polls - 1, None, TRIGGER_POLL, rng), timeout - elapsed))


@app.command()
def listen(
    ctx: typer.Context,
    forward_to: Annotated[
        str, typer.Option("--forward-to", help="Your endpoint (http and localhost are fine).")
    ],
    event: Annotated[
        list[str] | None,
        typer.Option("--event", help=f"Only this type (repeat): {', '.join(EVENT_TYPES)}."),
    ] = None,
) -> None:
    """Relay your events as they happen to a URL, signed as real deliveries; Ctrl-C stops.

    Prints the profile's signing secret first (the same every time), then one line per event.
    """
    options: Options = ctx.obj
    wanted = frozenset(event or ())
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown:
        message = f"unknown event type {', '.join(unknown)}; use {', '.join(EVENT_TYPES)}"
        _fail(Exit.USAGE, message, {"usage": message}, options.json)
    secret = listen_secret(*_listen_key(options))
    # Ctrl-C or SIGTERM: stop between events, or mid-wait, and exit 0. SIGINT is restored
    # first: a shell starts a background job with it ignored, and SIGTERM goes through it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    with (
        _client(ctx) as (api, _),
        httpx.Client(timeout=FORWARD_TIMEOUT, trust_env=False, headers=LISTEN_AGENT) as http,
    ):
        _emit(options, f"webhook signing secret: {secret}", {"secret": secret})
        only = next(iter(wanted)) if len(wanted) == 1 else None
        names = ", ".join(sorted(wanted)) if wanted else "every event"
        stream = api.stream_events(
            type=only, on_connection=_connection_notice(f"{names} to {forward_to}")
        )
        try:
            while (found := _call(options, lambda: next(stream, None))) is not None:
                if wanted and found.type not in wanted:
                    continue
                status, error = _forward(http, forward_to, secret, found)
                when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
                outcome = str(status) if status is not None else f"error: {error}"
                _emit(
                    options,
                    f"{when} {found.type} {found.id} -> {outcome}",
                    {"time": when, "type": found.type, "id": found.id, "status": status}
                    | ({"error": error} if error else {}),
                )
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)
        finally:
            stream.close()


LISTEN_AGENT = {"User-Agent": "cancelgate-client-listen"}


def _listen_key(options: Options) -> tuple[str, bytes]:
    """The profile's client id and the key its listen secret is derived from: the client
    secret, or the private key file's bytes (as the profile authenticates)."""
    profile = options.profile
    if not profile.client_id:
        _fail(Exit.USAGE, "listen needs the profile's client_id", None, options.json)
    if profile.private_key_file:
        try:
            return profile.client_id, Path(profile.private_key_file).read_bytes()
        except OSError as exc:
            _fail(Exit.USAGE, f"cannot read the private key file: {exc}", None, options.json)
    if not profile.client_secret:
        _fail(Exit.USAGE, "listen needs a client secret or private key", None, options.json)
    return profile.client_id, profile.client_secret.encode()


def _forward(
    http: httpx.Client, url: str, secret: str, event: Event
) -> tuple[int | None, str | None]:
    """POST the event as a signed delivery; the status code, or what went wrong."""
    body, headers = signed_delivery(event, secret, int(time.time()))
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{exc.__class__.__name__}: {exc}"
    return response.status_code, None


def _connection_notice(what: str) -> Callable[[StreamUpdate], None]:
    """Says on stderr when the stream is ready, drops and comes back."""

    connections = 0

    def notice(update: StreamUpdate) -> None:
        nonlocal connections
        if update.connected:
            connections += 1
        if update.connected and connections == 1:
            typer.echo(f"Ready: forwarding {what} (Ctrl-C to stop)", err=True)
        elif update.connected:
            after = update.last_event_id or "now (no event yet)"
            typer.echo(f"reconnected, resuming after {after}", err=True)
        else:
            typer.echo(
                f"stream dropped ({update.error}); reconnecting in {update.next_delay:.1f} s",
                err=True,
            )

    return notice


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM handled as Ctrl-C (a KeyboardInterrupt, which `listen` ends on cleanly)."""
    signal.raise_signal(signal.SIGINT)


def _emit(options: Options, text: str, body: dict[str, Any]) -> None:
    """One line on stdout: text, or with --json the body as one JSON line."""
    typer.echo(json.dumps(body) if options.json else text)


# --- plumbing -------------------------------------------------------------------------


@contextmanager
def _client(ctx: typer.Context) -> Iterator[tuple[Client, Options]]:
    options: Options = ctx.obj
    profile = options.profile
    if not profile.base_url:
        _fail(
            Exit.USAGE,
            "no server: set CANCELGATE_URL, --url, a profile or --demo-file",
            None,
            options.json,
        )
    try:
        api = Client(
            profile.base_url,
            client_id=profile.client_id,
            client_secret=profile.client_secret if not profile.private_key_file else None,
            private_key=Path(profile.private_key_file) if profile.private_key_file else None,
            key_id=profile.key_id,
            token_url=profile.token_url,
            api_version=profile.api_version,
            ux_client_id=profile.ux_client_id,
            ux_client_secret=profile.ux_client_secret,
            poll=PollPolicy(long_poll=options.long_poll),
            # One token across commands: the server issues few a minute per client id.
            token_store=FileTokenStore(default_token_directory()),
        )
    except (OSError, ValueError) as exc:
        _fail(Exit.USAGE, f"bad credentials in the profile: {exc}", None, options.json)
    with api:
        yield api, options


def _call(options: Options, operation: Callable[[], T]) -> T:
    """Run one client call; an error becomes a message (or JSON) and its exit code."""
    try:
        return operation()
    except WaitTimeout as exc:
        _fail(
            Exit.TIMED_OUT, str(exc), {"timeout": str(exc), "location": exc.location}, options.json
        )
    except OAuthError as exc:
        _fail(Exit.UNAUTHORIZED, str(exc), _error_json(exc), options.json)
    except ApiError as exc:
        _fail(_exit_for(exc), str(exc), _error_json(exc), options.json)
    except TransportError as exc:
        _fail(Exit.TRANSPORT, str(exc), {"transport": str(exc)}, options.json)
    except ConfigurationError as exc:
        _fail(Exit.USAGE, str(exc), {"usage": str(exc)}, options.json)
    except CancelgateError as exc:
        _fail(Exit.FAILED, str(exc), {"failure": str(exc)}, options.json)


def _exit_for(error: ApiError) -> Exit:
    if error.not_found:
        return Exit.NOT_FOUND
    if error.refused:
        return Exit.REFUSED
    if error.status in (401, 403):
        return Exit.UNAUTHORIZED
    return Exit.FAILED


def _error_json(error: ApiError) -> dict[str, Any]:
    return {"status": error.status, "error": error.body}


def _fail(code: Exit, message: str, body: dict[str, Any] | None, as_json: bool) -> NoReturn:
    _clear_progress()
    if as_json and body is not None:
        _print_json(body)
    else:
        typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(code))


class Waiter(Protocol):
    """A `Client.wait_*` method, unbound: follows a request (id or Location) to its outcome."""

    def __call__(
        self,
        api: Client,
        request: int | str,
        /,
        *,
        timeout: float | None = None,
        version: int | None = None,
        on_poll: OnPoll | None = None,
    ) -> object: ...


def _command(
    ctx: typer.Context,
    send: Callable[[Client], Accepted],
    waiter: Waiter,
    wait: bool,
    timeout: float,
    version: int | None,
) -> None:
    """Send a command and show its acceptance, or with --wait where its Location ends."""
    with _client(ctx) as (api, options):
        accepted = _call(options, lambda: send(api))
        _followed(api, options, waiter, accepted.location, lambda: accepted, wait, timeout, version)


def _followed(
    api: Client,
    options: Options,
    waiter: Waiter,
    where: int | str,
    look: Callable[[], object],
    wait: bool,
    timeout: float,
    version: int | None,
) -> None:
    """Show one look, or with --wait what following the request to its end gives."""

    def follow() -> object:
        return waiter(api, where, timeout=timeout, version=version, on_poll=_progress(options))

    _show(options, _call(options, follow if wait else look))


def _id_or_location(text: str) -> int | str:
    return int(text) if text.isascii() and text.isdigit() else text


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def progress_line(update: PollUpdate) -> str:
    """What the progress indicator says before a pause: still in progress, how long, what next."""
    frame = SPINNER[(update.polls - 1) % len(SPINNER)]
    return (
        f"{frame} in progress: {update.polls} poll(s), {update.elapsed:.1f} s, "
        f"next in {update.next_delay:.1f} s"
    )


def _progress(options: Options) -> OnPoll | None:
    """A progress indicator on stderr (one line rewritten on a terminal, else a line per poll)."""
    if options.json or options.quiet:
        return None
    terminal = sys.stderr.isatty()

    def show(update: PollUpdate) -> None:
        if terminal:
            sys.stderr.write("\r\033[K" + progress_line(update))
        else:
            sys.stderr.write(progress_line(update) + "\n")
        sys.stderr.flush()

    return show


def _clear_progress() -> None:
    """Wipe a progress line left on the terminal, so that what follows starts clean."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _show(options: Options, value: Any) -> None:
    _clear_progress()
    if options.json:
        _print_json(_as_json(value))
        return
    typer.echo(_title(value))
    for name, field_value in _fields(value):
        typer.echo(f"  {name}: {_text(field_value)}")


def _show_list(options: Options, values: list[Any]) -> None:
    if options.json:
        _print_json([_as_json(v) for v in values])
        return
    if not values:
        typer.echo("(none)")
    for value in values:
        _show(options, value)


def _title(value: Any) -> str:
    name = type(value).__name__
    if isinstance(value, Accepted):
        verb = "Created" if value.status == 201 else "No Content"
        replay = " (replayed)" if value.replayed else ""
        return f"{value.status} {verb}{replay}: {value.location}"
    return name


def _fields(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Accepted):
        return [("idempotency_key", value.idempotency_key)]
    return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "raw"]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "-"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "; ".join(f"{n}={_text(v)}" for n, v in _fields(value))
    return str(value)


def _as_json(value: Any) -> Any:
    """The server's own JSON where the model kept it; otherwise the model's fields."""
    raw = getattr(value, "raw", None)
    if raw is not None:
        return raw
    return dataclasses.asdict(value)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, default=str, indent=2))
