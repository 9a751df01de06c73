"""The client's sandbox and events (issue 17) against a live `cancelgate serve` (sandbox on):
fixtures, the test clock, the events feed and stream (resumed with `Last-Event-ID` after a
dropped connection), the blocking `Client`, and the `cancelgate client` commands `fixtures`,
`clock`, `trigger` and `listen` (its deliveries verified with the `standardwebhooks` package).

Every wait is bounded and waits for a condition: an event in the feed, a line of output, a
request at the receiver, a process's end.
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
import pytest_asyncio
from standardwebhooks.webhooks import Webhook

from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate_client import (
    AppointmentCancellation,
    AppointmentFixture,
    AsyncClient,
    Client,
    ConnectApiError,
    Event,
    PollPolicy,
    SandboxClock,
    ServiceFixture,
    StreamUpdate,
    UxApiError,
    UxAppointmentFixture,
)
from cancelgate_client.listen import listen_secret
from tests.api.checks import apoll_until
from tests.api.conftest import Caller, Channel
from tests.api.test_client_cli import profile_env, run, run_all
from tests.receiver import receiving
from tests.support import CANCELGATE, SYDNEY, poll_until

APPOINTMENT = "appointment.cancelled"
SERVICE = "service.cancelled"
REJECTED = "service.cancellation-rejected"
DAY = 86_400
# The headers of a delivery that are the event's own (the feed shows them).
EVENT_HEADERS = ["Content-Type", "z-event-type", "z-notification-type", "z-notification-model"]
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WAIT = 20.0


def client_for(base: str, caller: Caller, channel: Channel | None = None) -> AsyncClient:
    return AsyncClient(
        base,
        client_id=caller.client_id,
        client_secret=caller.client_secret,
        ux_client_id=channel.client_id if channel else None,
        ux_client_secret=channel.client_secret if channel else None,
        # Reconnections come quickly: the tests wait on what arrives.
        poll=PollPolicy(initial=0.05, maximum=0.5),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def api(api_server: str, caller: Caller, channel: Channel) -> AsyncIterator[AsyncClient]:
    async with client_for(api_server, caller, channel) as client:
        yield client


async def event_about(api: AsyncClient, event_type: str, key: str, subject: int) -> Event:
    """The event of this type whose payload names the subject, once the feed shows it."""

    async def found() -> list[Event]:
        return [
            e for e in await api.events(type=event_type, limit=1000) if e.payload[key] == subject
        ]

    [event] = await apoll_until(found, bool, timeout=WAIT, what=f"{event_type} about {subject}")
    return event


async def cancel_a_booked_appointment(api: AsyncClient) -> Event:
    """A booked fixture cancelled: its `appointment.cancelled` event."""
    [fixture] = await api.create_appointments(scenarios.BOOKED)
    await api.cancel_appointment(fixture.appointment_id, wait=True, timeout=WAIT)
    return await event_about(api, APPOINTMENT, "id", fixture.appointment_id)


async def cancel_an_active_service(api: AsyncClient) -> Event:
    """An active fixture's cancellation requested for today on the tenant's clock: its
    `service.cancelled` event."""
    [fixture] = await api.create_services(sc.ACTIVE)
    today = (await api.clock()).now.date()
    await api.request_service_cancellation(fixture.service_id, today, wait=True, timeout=WAIT)
    return await event_about(api, SERVICE, "serviceId", fixture.service_id)


def compact(payload: Any) -> bytes:
    """A payload as deliveries send it."""
    return json.dumps(payload, separators=(",", ":")).encode()


# --- AsyncClient: fixtures and the clock ---------------------------------------------------------


async def test_scenarios_are_the_catalogue_of_each_kind(api: AsyncClient) -> None:
    catalogue = await api.scenarios()
    assert [s.scenario for s in catalogue.appointments] == list(scenarios.SCENARIOS)
    assert [s.scenario for s in catalogue.services] == list(sc.SCENARIOS)
    assert [s.scenario for s in catalogue.ux] == list(csg.SCENARIOS)
    active = next(s for s in catalogue.services if s.scenario == sc.ACTIVE)
    assert (active.description, active.outcome) == sc.ABOUT[sc.ACTIVE]
    assert list(catalogue.raw) == ["appointments", "services", "ux"]


async def test_fixtures_are_made_of_each_kind_and_play_their_scenario(
    api: AsyncClient, caller: Caller
) -> None:
    booked = await api.create_appointments(scenarios.BOOKED, 2)
    assert len({f.appointment_id for f in booked}) == 2
    for fixture in booked:
        assert isinstance(fixture, AppointmentFixture) and fixture.scenario == scenarios.BOOKED
        assert re.fullmatch(r"APT\d{12}", fixture.nbn_appointment_id)
        assert list(fixture.raw) == ["appointmentId", "nbnAppointmentId", "scenario"]
    done = await api.cancel_appointment(booked[0].appointment_id, wait=True, timeout=WAIT)
    assert isinstance(done, AppointmentCancellation)
    assert done.nbn_appointment_id == booked[0].nbn_appointment_id
    [complete] = await api.create_appointments(scenarios.COMPLETE)
    with pytest.raises(ConnectApiError) as refused:
        await api.cancel_appointment(complete.appointment_id)
    assert refused.value.api_sub_errors[0].code == "constraints.appointment.not.booked"

    [service] = await api.create_services(sc.CANCELLATION_REQUESTED)
    assert isinstance(service, ServiceFixture) and re.fullmatch(
        r"AVC\d{12}", service.nbn_service_id
    )
    assert (await api.service(service.service_id)).service_cancellation.status == "REQUESTED"

    ux = await api.create_ux_appointments("PR", csg.INSTALLATION, 2)
    assert len({f.id for f in ux}) == 2
    for made in ux:
        assert isinstance(made, UxAppointmentFixture)
        assert (made.business_id, made.order_class, made.scenario) == ("PR", "S", csg.INSTALLATION)
        assert made.billing_account == csg.SEED_BILLING_ACCOUNT
    cancelled = await api.cancel_ux_appointment(
        "PR", ux[0].id, order_class="S", billing_account=ux[0].billing_account
    )
    assert cancelled.status == "cancelled"

    # Errors come whole, in each API's own format.
    with pytest.raises(ConnectApiError) as unknown:
        await api.create_services("no-such-scenario")
    assert unknown.value.status == 422
    assert unknown.value.api_sub_errors[0].code == "constraints.sandbox.scenario.unknown"
    with pytest.raises(ConnectApiError) as too_many:
        await api.create_appointments(scenarios.BOOKED, 1001)
    assert (too_many.value.status, too_many.value.api_sub_errors[0].field) == (422, "count")
    with pytest.raises(UxApiError) as not_allowed:
        await api.create_ux_appointments("TT", csg.INSTALLATION)  # the channel has JM and PR
    assert not_allowed.value.status == 401


async def test_the_clock_shows_and_moves_forward_only(api: AsyncClient) -> None:
    clock = await api.clock()
    assert isinstance(clock, SandboxClock) and clock.offset_seconds == 0
    assert abs((clock.now - datetime.now(UTC)).total_seconds()) < 5
    assert clock.now.utcoffset() == datetime.now(SYDNEY).utcoffset()

    moved = await api.advance_clock(seconds=2 * DAY)
    assert moved.offset_seconds == 2 * DAY
    assert (await api.clock()).offset_seconds == 2 * DAY

    target = datetime.now(UTC) + timedelta(days=5)
    to = await api.advance_clock(to=target)
    assert abs((to.now - target).total_seconds()) < 5
    as_text = await api.advance_clock(to=(target + timedelta(hours=1)).isoformat())
    assert as_text.offset_seconds > to.offset_seconds

    with pytest.raises(ConnectApiError) as backwards:
        await api.advance_clock(to=datetime.now(UTC))
    assert backwards.value.api_sub_errors[0].code == "constraints.clock.forward"
    with pytest.raises(ConnectApiError) as neither:
        await api.advance_clock()
    assert neither.value.api_sub_errors[0].code == "constraints.clock.advance"


# --- AsyncClient: events -------------------------------------------------------------------------


async def test_the_feed_pages_filters_and_carries_the_delivery_headers(api: AsyncClient) -> None:
    appointment = await cancel_a_booked_appointment(api)
    service = await cancel_an_active_service(api)

    every = await api.events()
    assert [e.id for e in every] == [appointment.id, service.id]
    assert [e.id for e in await api.events(type=SERVICE)] == [service.id]
    assert [e.id for e in await api.events(after=appointment.id)] == [service.id]
    assert [e.id for e in await api.events(limit=1)] == [appointment.id]
    assert await api.events(after=service.id) == []

    assert UUID.match(service.id) and service.type == SERVICE
    assert service.occurred_at is not None and service.occurred_at.tzinfo is not None
    assert service.payload["status"] == "COMPLETED" and service.payload["cancelled"] is True
    assert service.headers == {
        "Content-Type": "application/json",
        "z-event-type": "service.cancelled.event",
        "z-notification-type": "service.cancelled.notification",
        "z-notification-model": "service",
        "webhook-id": service.id,
    }
    assert appointment.headers["z-notification-model"] == "appointment"

    with pytest.raises(ConnectApiError) as unknown:
        await api.events(type="no.such.event")
    assert unknown.value.status == 422


async def test_the_stream_yields_events_as_they_happen_and_resumes_after_the_last_one(
    api_server: str, api: AsyncClient, caller: Caller
) -> None:
    """Through a proxy that drops the connection and refuses new ones for a while: the event
    made meanwhile arrives once it lets the client in again, because the client resumed with
    `Last-Event-ID` (a stream without it starts from now)."""
    async with (
        Proxy.to(api_server) as proxy,
        client_for(proxy.url, caller) as streaming,
    ):
        updates: list[StreamUpdate] = []
        connected, dropped = asyncio.Event(), asyncio.Event()

        def heard(update: StreamUpdate) -> None:
            updates.append(update)
            (connected if update.connected else dropped).set()

        arrived: asyncio.Queue[Event] = asyncio.Queue()

        async def consume() -> None:
            async for event in streaming.stream_events(on_connection=heard):
                await arrived.put(event)

        consumer = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(connected.wait(), WAIT)
            first = await cancel_a_booked_appointment(api)
            got = await asyncio.wait_for(arrived.get(), WAIT)
            assert (got.id, got.type, got.payload) == (first.id, APPOINTMENT, first.payload)
            assert (got.headers, got.occurred_at) == ({}, None)

            proxy.refuse()
            await asyncio.wait_for(dropped.wait(), WAIT)
            missed = await cancel_an_active_service(api)
            proxy.admit()
            got = await asyncio.wait_for(arrived.get(), WAIT)
            assert (got.id, got.type, got.payload) == (missed.id, SERVICE, missed.payload)
            assert arrived.empty()
        finally:
            consumer.cancel()
            with suppress(asyncio.CancelledError):
                await consumer
    assert updates[0] == StreamUpdate(True, None, 0)
    assert updates[-1] == StreamUpdate(True, first.id, 0)
    assert any(not u.connected and u.last_event_id == first.id for u in updates)
    # The first stream request had no Last-Event-ID; the one that got through again had the
    # first event's.
    streams = [
        head for head in proxy.heads if " /api/connect/webhooks/events/stream " in head[":request"]
    ]
    assert len(streams) >= 2
    assert "last-event-id" not in streams[0]
    assert streams[-1]["last-event-id"] == first.id


# --- the blocking Client -------------------------------------------------------------------------


def test_the_blocking_client_has_the_same_operations(
    api_server: str, caller: Caller, channel: Channel
) -> None:
    with Client(
        api_server,
        client_id=caller.client_id,
        client_secret=caller.client_secret,
        ux_client_id=channel.client_id,
        ux_client_secret=channel.client_secret,
    ) as api:
        assert [s.scenario for s in api.scenarios().services] == list(sc.SCENARIOS)
        [appointment] = api.create_appointments(scenarios.BOOKED)
        api.cancel_appointment(appointment.appointment_id, wait=True, timeout=WAIT)
        [service] = api.create_services(sc.REJECTED_BY_NBN, count=1)
        [ux] = api.create_ux_appointments("JM", csg.TECHNICAL)
        assert (ux.business_id, ux.order_class, ux.billing_account) == ("JM", "T", None)
        assert api.clock().offset_seconds == 0
        # The cancellation, dated ahead, is submitted (and rejected) once the clock passes it.
        day = api.clock().now.date() + timedelta(days=3)
        api.request_service_cancellation(service.service_id, day)
        assert api.advance_clock(seconds=4 * DAY).offset_seconds == 4 * DAY
        with pytest.raises(ConnectApiError) as rejected:
            api.wait_service_cancellation(service.service_id, timeout=WAIT)
        assert rejected.value.api_sub_errors[0].code == "constraints.service-cancellation.rejected"

        feed = poll_until(api.events, lambda f: len(f) == 2, timeout=WAIT, what="two events")
        assert [e.type for e in feed] == [APPOINTMENT, REJECTED]
        assert feed[1].payload["serviceId"] == service.service_id
        assert api.events(after=feed[0].id, type=REJECTED, limit=5) == feed[1:]
        # The stream after the first event sends the second at once.
        stream = api.stream_events(feed[0].id)
        streamed = next(stream)
        stream.close()
        assert (streamed.id, streamed.type, streamed.payload) == (
            feed[1].id,
            REJECTED,
            feed[1].payload,
        )


# --- the command line ----------------------------------------------------------------------------


async def test_fixtures_create_prints_the_array_made(
    api_server: str, caller: Caller, channel: Channel, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller, channel)
    appointments, services, ux, unknown, misplaced, listed = run_all(
        (env, ["fixtures", "create", "appointments", "booked", "--count", "2"]),
        (env, ["--json", "fixtures", "create", "services", "active"]),
        (env, ["fixtures", "create", "ux", "installation", "--business-id", "JM", "--count", "3"]),
        (env, ["--json", "fixtures", "create", "services", "no-such-scenario"]),
        (env, ["fixtures", "create", "services", "active", "--business-id", "PR"]),
        (env, ["fixtures", "scenarios"]),
    )
    assert appointments.code == 0, appointments
    made = appointments.json()
    assert [list(m) for m in made] == [["appointmentId", "nbnAppointmentId", "scenario"]] * 2
    assert {m["scenario"] for m in made} == {"booked"}
    async with client_for(api_server, caller) as api:
        done = await api.cancel_appointment(made[1]["appointmentId"], wait=True, timeout=WAIT)
        assert done.appointment_id == made[1]["appointmentId"]
    assert services.code == 0, services
    [service] = services.json()
    assert (list(service), service["scenario"]) == (
        ["serviceId", "nbnServiceId", "scenario"],
        "active",
    )
    assert ux.code == 0, ux
    assert [(m["businessId"], m["orderClass"], m["scenario"]) for m in ux.json()] == [
        ("JM", "S", "installation")
    ] * 3
    assert unknown.code == 3, unknown
    assert unknown.json()["status"] == 422
    assert (
        unknown.json()["error"]["apiSubErrors"][0]["code"] == "constraints.sandbox.scenario.unknown"
    )
    assert misplaced.code == 2, misplaced
    assert listed.code == 0, listed
    assert "services:" in listed.out.splitlines()
    assert f"  active: {' -> '.join(sc.ABOUT[sc.ACTIVE])}" in listed.out.splitlines()


async def test_clock_show_and_advance_print_the_clock(
    api_server: str, caller: Caller, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller)
    days = run(env, "clock", "advance", "--days", "2")
    assert days.code == 0, days
    assert days.json()["offsetSeconds"] == 2 * DAY
    seconds = run(env, "clock", "advance", "--seconds", "90")
    assert seconds.code == 0, seconds
    assert seconds.json()["offsetSeconds"] == 2 * DAY + 90
    target = datetime.now(SYDNEY).replace(microsecond=0) + timedelta(days=10)
    to = run(env, "clock", "advance", "--to", target.isoformat())
    assert to.code == 0, to
    assert abs((datetime.fromisoformat(to.json()["now"]) - target).total_seconds()) < 5
    shown = run(env, "clock", "show")
    assert shown.code == 0, shown
    assert list(shown.json()) == ["now", "offsetSeconds"]
    assert shown.json()["offsetSeconds"] >= to.json()["offsetSeconds"]

    neither, both, backwards = run_all(
        (env, ["clock", "advance"]),
        (env, ["clock", "advance", "--days", "1", "--seconds", "5"]),
        (env, ["--json", "clock", "advance", "--to", "2020-01-01T00:00:00+10:00"]),
    )
    assert neither.code == 2 and "one of --to, --seconds and --days" in neither.err, neither
    assert both.code == 2, both
    assert backwards.code == 3, backwards
    assert backwards.json()["error"]["apiSubErrors"][0]["code"] == "constraints.clock.forward"


async def test_trigger_makes_each_event_happen_and_prints_it(
    api_server: str, caller: Caller, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller)
    cancelled, appointment, rejected, people = run_all(
        (env, ["--json", "trigger", SERVICE]),
        (env, ["--json", "trigger", APPOINTMENT]),
        (env, ["--json", "trigger", REJECTED]),
        (env, ["trigger", SERVICE]),
    )
    async with client_for(api_server, caller) as api:
        for result, event_type, key, subject_key in (
            (cancelled, SERVICE, "serviceId", "serviceId"),
            (appointment, APPOINTMENT, "appointmentId", "id"),
            (rejected, REJECTED, "serviceId", "serviceId"),
        ):
            assert result.code == 0, result
            printed = result.json()
            subject = printed["created"][key]
            event = printed["event"]
            assert event["type"] == event_type, result
            assert event["payload"][subject_key] == subject, result
            # The event the feed holds about that object, exactly.
            [fed] = [e for e in await api.events(type=event_type) if e.id == event["id"]]
            assert fed.raw == event
            assert printed["requested"].startswith(api_server + "/api/connect/")
        assert cancelled.json()["event"]["payload"]["status"] == "COMPLETED"
        assert rejected.json()["event"]["payload"]["status"] == "REJECTED"
        assert cancelled.json()["created"]["scenario"] == "active"
        assert rejected.json()["created"]["scenario"] == "rejected-by-nbn"
        assert appointment.json()["created"]["scenario"] == "booked"

    assert people.code == 0, people
    lines = people.out.splitlines()
    assert lines[0].startswith("created: {") and lines[1].startswith("requested: 201 Created: ")
    assert re.fullmatch(rf"event: {SERVICE} [0-9a-f-]{{36}} at \S+", lines[2]), people
    assert json.loads("\n".join(lines[3:]))["status"] == "COMPLETED"

    unknown = run(env, "trigger", "webhook.test")
    assert unknown.code == 2, unknown


async def test_listen_forwards_signed_events_of_the_chosen_types_until_stopped(
    api_server: str, api: AsyncClient, caller: Caller, tmp_path: Path
) -> None:
    env = profile_env(tmp_path, api_server, caller)
    expected_secret = listen_secret(caller.client_id, caller.client_secret.encode())
    with receiving() as hook:
        with listening(
            env, "--forward-to", hook.url, "--event", APPOINTMENT, "--event", REJECTED
        ) as listener:
            secret_line = listener.out.expect(r"webhook signing secret: (whsec_\S+)")
            assert secret_line.group(1) == expected_secret
            listener.err.expect(r"^Ready: forwarding ")
            # A service.cancelled event (not chosen) settles first, then an appointment.cancelled:
            # the stream sends them in that order, so once the second arrives the first was
            # passed over.
            skipped = await cancel_an_active_service(api)
            forwarded = await cancel_a_booked_appointment(api)
            [received] = await hook.arrived(1, timeout=WAIT)
            line = listener.out.expect(rf" {APPOINTMENT} {forwarded.id} -> (\d+)$")
            assert line.group(1) == "200"
            listener.stop(signal.SIGINT)
        assert listener.code == 0, listener
        assert len(hook.requests) == 1
    assert skipped.id not in listener.out.text() + listener.err.text()
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d {APPOINTMENT} {forwarded.id} -> 200",
        listener.out.lines()[-1],
    )

    # Signed with the printed secret as Standard Webhooks asks; a real delivery's headers and body.
    assert Webhook(expected_secret).verify(received.body, received.headers) == forwarded.payload
    assert received.body == compact(forwarded.payload)
    assert received.headers["webhook-id"] == forwarded.id
    for name in EVENT_HEADERS:
        assert received.headers[name.lower()] == forwarded.headers[name], name
    assert received.path == "/hook"

    # The same profile gets the same secret next time; SIGTERM stops it cleanly too, also when
    # started as a shell's background job (SIGINT ignored from the start).
    with listening(env, "--json", "--forward-to", hook.url, background=True) as again:
        first = again.out.expect(r"^\{.*\}$")
        assert json.loads(first.group(0)) == {"secret": expected_secret}
        again.err.expect(r"^Ready: forwarding every event to ")
        again.stop(signal.SIGTERM)
    assert again.code == 0, again


# --- helpers: a listening process, a proxy that drops connections --------------------------------


@dataclass
class Lines:
    """The lines a pipe gives, read by a thread, awaited by pattern with a timeout."""

    pipe: IO[str]
    seen: list[str] = field(default_factory=list)
    incoming: queue.Queue[str | None] = field(default_factory=queue.Queue)
    read: int = 0

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.pipe:
            self.incoming.put(line.rstrip("\n"))
        self.incoming.put(None)

    def expect(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """The first line from here on that matches (lines before it are passed over)."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.incoming.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise TimeoutError(f"no line matching {pattern!r}; seen {self.seen}") from None
            if line is None:
                raise AssertionError(f"ended before a line matching {pattern!r}: {self.seen}")
            self.seen.append(line)
            found = compiled.search(line)
            if found:
                return found

    def drain(self) -> None:
        """Every line left, once the pipe has ended."""
        while (line := self.incoming.get(timeout=WAIT)) is not None:
            self.seen.append(line)

    def lines(self) -> list[str]:
        return list(self.seen)

    def text(self) -> str:
        return "\n".join(self.seen)


@dataclass
class Listener:
    proc: subprocess.Popen[str]
    out: Lines
    err: Lines
    code: int | None = None

    def stop(self, signum: int) -> None:
        self.proc.send_signal(signum)
        self.code = self.proc.wait(timeout=WAIT)
        self.out.drain()
        self.err.drain()

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout: {self.out.text()}\nstderr: {self.err.text()}"


def ignore_sigint() -> None:
    """What a non-interactive shell does to a job it starts in the background."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def listening(env: dict[str, str], *args: str, background: bool = False) -> Iterator[Listener]:
    """`cancelgate client [--json] listen …` running for the block (killed if still running)."""
    options = ["--json"] if "--json" in args else []
    rest = [a for a in args if a != "--json"]
    proc = subprocess.Popen(
        [CANCELGATE, "client", *options, "listen", *rest],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ignore_sigint if background else None,
    )
    assert proc.stdout is not None and proc.stderr is not None
    listener = Listener(proc, Lines(proc.stdout), Lines(proc.stderr))
    try:
        yield listener
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)


class Proxy:
    """A TCP proxy to a server on 127.0.0.1 that can drop its connections and, until admitted
    again, refuse new ones (closed on arrival); it keeps each request's headers."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.admitting = True
        self.heads: list[dict[str, str]] = []
        self.writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    @classmethod
    @asynccontextmanager
    async def to(cls, base_url: str) -> AsyncIterator[Proxy]:
        port = int(base_url.rsplit(":", 1)[1])
        proxy = cls(port)
        server = await asyncio.start_server(proxy._accept, "127.0.0.1", 0)
        proxy.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            yield proxy
        finally:
            proxy.refuse()
            server.close()
            await server.wait_closed()

    def refuse(self) -> None:
        self.admitting = False
        for writer in list(self.writers):
            writer.close()

    def admit(self) -> None:
        self.admitting = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.admitting:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers |= {writer, up_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, record=True), self._pipe(up_reader, writer)
            )
        finally:
            self.writers -= {writer, up_writer}
            writer.close()
            up_writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, record: bool = False
    ) -> None:
        buffered = b""
        try:
            while chunk := await reader.read(65536):
                if record:
                    buffered += chunk
                    while b"\r\n\r\n" in buffered:
                        head, buffered = buffered.split(b"\r\n\r\n", 1)
                        self.heads.append(_headers(head))
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


def _headers(head: bytes) -> dict[str, str]:
    """A request head's headers, names lower-cased (and its request line under `:request`)."""
    request_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {":request": request_line}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers
