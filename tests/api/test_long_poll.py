"""`Prefer: wait=N` on the status GETs: held until the outcome is final (woken by the database's
notification), or N seconds; hundreds at once without a connection each; a caller that goes away
frees its place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.keys import instance_keys_in
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from tests.api.checks import apoll_until
from tests.api.conftest import Caller, Sessions, new_caller
from tests.support import (
    REQUEST,
    SERVICE_REQUEST,
    SERVICE_REQUESTS,
    free_port,
    migrated_database,
    running,
    sydney_today,
)


async def request_cancellation(caller: Caller, scenario: str) -> str:
    """POST a cancellation of a new appointment of this scenario; its Location."""
    appointment = await caller.appointment(scenario)
    response = await caller.http.post(
        REQUEST, json={"appointmentId": appointment.id}, headers=caller.headers()
    )
    assert response.status_code == 201, response.text
    return response.headers["location"]


def waiting(caller: Caller, seconds: int) -> dict[str, str]:
    return caller.headers(Prefer=f"wait={seconds}")


async def test_a_held_get_answers_as_soon_as_the_job_finishes(caller: Caller) -> None:
    # booked-slow: the nbn takes 1.5 s here (tests' CANCELGATE_SIM_SLOW_SECONDS).
    location = await request_cancellation(caller, scenarios.BOOKED_SLOW)
    started = time.monotonic()
    held = await caller.http.get(location, headers=waiting(caller, 30))
    elapsed = time.monotonic() - started
    assert held.status_code == 200, held.text
    assert held.headers["preference-applied"] == "wait=30"
    assert held.json()["id"] == int(location.rsplit("/", 1)[1])
    # Woken by the outcome, not by the end of the wait (30 s).
    assert elapsed < 20


async def test_without_the_header_nothing_changes_and_a_short_wait_ends_in_202(
    caller: Caller,
) -> None:
    location = await request_cancellation(caller, scenarios.BOOKED_SLOW)
    plain = await caller.http.get(location, headers=caller.headers())
    assert plain.status_code == 202 and "preference-applied" not in plain.headers
    short = await caller.http.get(location, headers=waiting(caller, 1))
    assert short.status_code == 202
    assert short.headers["preference-applied"] == "wait=1"
    assert int(short.headers["retry-after"]) >= 1


async def test_a_finished_outcome_is_answered_at_once(caller: Caller) -> None:
    location = await request_cancellation(caller, scenarios.FAILS_IN_PROCESSING)
    held = await caller.http.get(location, headers=waiting(caller, 30))
    assert held.status_code == 422
    assert held.json()["apiSubErrors"][0]["code"] == "constraints.appointment-cancellation.failed"
    assert held.headers["preference-applied"] == "wait=30"


async def test_a_held_service_cancellation_answers_when_the_nbn_has_answered(
    caller: Caller,
) -> None:
    service = await caller.service(sc.ACTIVE)
    requested = await caller.http.post(
        SERVICE_REQUEST,
        json={"serviceId": service.id, "cancellationDate": sydney_today().isoformat()},
        headers=caller.headers("7"),
    )
    assert requested.status_code == 201, requested.text
    held = await caller.http.get(
        requested.headers["location"], headers=caller.headers("7", Prefer="wait=30")
    )
    assert held.status_code == 200, held.text
    assert held.json()["status"] == "COMPLETED"
    assert held.headers["preference-applied"] == "wait=30"


async def test_a_service_with_the_nbn_for_good_is_202_after_the_wait(caller: Caller) -> None:
    service = await caller.service(sc.CANCELLATION_IN_PROGRESS)
    started = time.monotonic()
    held = await caller.http.get(
        f"{SERVICE_REQUESTS}/{service.id}", headers=caller.headers("7", Prefer="wait=1")
    )
    assert held.status_code == 202
    assert held.headers["preference-applied"] == "wait=1"
    # Held for the wait, not answered at once.
    assert time.monotonic() - started >= 0.9


@pytest.mark.parametrize("value", ["wait=abc", "wait=-1", "respond-async", "wait"])
async def test_a_preference_without_a_usable_wait_is_ignored(caller: Caller, value: str) -> None:
    location = await request_cancellation(caller, scenarios.BOOKED_SLOW)
    response = await caller.http.get(location, headers=caller.headers(Prefer=value))
    assert response.status_code == 202 and "preference-applied" not in response.headers


async def test_hundreds_held_at_once_all_answer_when_their_jobs_finish(caller: Caller) -> None:
    """More held requests than the server has database connections (20): none holds one."""
    locations = [await request_cancellation(caller, scenarios.BOOKED_SLOW) for _ in range(5)]
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=caller.http.base_url, limits=limits, timeout=40) as http:
        answers = await asyncio.gather(
            *(
                http.get(locations[i % len(locations)], headers=waiting(caller, 30))
                for i in range(300)
            )
        )
    assert [a.status_code for a in answers] == [200] * 300
    assert {a.headers["preference-applied"] for a in answers} == {"wait=30"}


@dataclass
class OnePlace:
    """A server of its own database (no other server's worker takes its jobs) that holds one
    request at a time, and sessions on that database."""

    base: str
    db: Sessions


@pytest.fixture(scope="module")
def one_place_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of the server that holds one request at a time."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("one-place") / "serve.log"
    with migrated_database(database_url) as url:
        env = {
            "DATABASE_URL": url,
            "CANCELGATE_DATA_DIR": str(log.parent),
            "CANCELGATE_LONG_POLL_MAX_WAITING": "1",
            "CANCELGATE_SIM_SLOW_SECONDS": "60",
        }
        with running(["serve", "--port", str(port)], env, log, base + "/healthz"):
            yield base, url


@pytest_asyncio.fixture(loop_scope="session")
async def one_place(one_place_server: tuple[str, str]) -> AsyncIterator[OnePlace]:
    base, url = one_place_server
    engine = make_engine(url, pool_size=2)
    yield OnePlace(base, make_sessionmaker(engine))
    await engine.dispose()


async def held_get(base: str, path: str, headers: dict[str, str]) -> asyncio.StreamWriter:
    """Send a GET on a connection of its own and leave it waiting; closing it goes away."""
    url = httpx.URL(base)
    assert url.port is not None
    _, writer = await asyncio.open_connection(url.host, url.port)
    lines = [f"GET {path} HTTP/1.1", f"Host: {url.host}:{url.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    return writer


async def test_a_caller_that_goes_away_frees_its_place(one_place: OnePlace) -> None:
    async with httpx.AsyncClient(base_url=one_place.base, timeout=40) as http:
        async with one_place.db() as session:
            keys = await instance_keys_in(session)
        own = await new_caller(http, one_place.db, keys)
        # booked-slow takes 60 s on this server: both stay in progress throughout.
        held_at, probe_at = [await request_cancellation(own, scenarios.BOOKED_SLOW) for _ in "ab"]
        for _ in range(20):
            held = await held_get(one_place.base, held_at, waiting(own, 30))
            probe = await http.get(probe_at, headers=waiting(own, 1))
            if "preference-applied" not in probe.headers:
                break  # the held request has the only place: the probe was answered at once
            held.close()  # the probe got there first: try again
        else:
            raise AssertionError("the held request never took the only place")
        assert probe.status_code == 202
        # The held caller goes away: its place is freed, and a wait is applied again.
        held.close()
        await held.wait_closed()
        applied = await apoll_until(
            lambda: http.get(probe_at, headers=waiting(own, 1)),
            lambda response: "preference-applied" in response.headers,
            timeout=15,
            what="the place freed by the caller that went away",
        )
        assert applied.status_code == 202 and applied.headers["preference-applied"] == "wait=1"
