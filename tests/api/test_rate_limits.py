"""Rate limits per client and endpoint family, against a `serve` process with small quotas: the
429 of each API in its own format, the RateLimit fields on every answer of a limited operation,
the failed-authentication slowdown at the token endpoint, the probes untouched, and the Python
client waiting out a 429. (Shared through Redis across processes: tests/e2e.)"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from cancelgate.auth.clients import client_by_client_id, create_client, principal_of
from cancelgate.clock import Clock
from cancelgate.demo.fixtures import create_appointment
from cancelgate.demo.service_fixtures import create_service
from cancelgate.keys import InstanceKeys
from cancelgate.services.models import Service
from cancelgate.upstream.nbn import scenarios
from cancelgate.upstream.nbn import service_scenarios as sc
from cancelgate.ux.clients import create_channel_client
from cancelgate_client import AsyncClient
from tests.api.checks import assert_error
from tests.api.conftest import EMAIL, NAME, Sessions
from tests.support import INSTALLATION_BODY, REQUEST, SYDNEY, free_port, running

# Small quotas, each window long enough that a test's burst never straddles it on a slow
# machine, short enough to be waited out where that is what is tested.
STATUS = ('"status";q=3;w=6', 3)  # 3 in any 6 s
COMMANDS = ('"commands";q=2;w=4', 2)  # 2 in any 4 s
TOKENS = ('"tokens";q=3;w=60', 3)  # 3 a minute
UX = ('"ux";q=2;w=4', 2)  # 2 in any 4 s
FAILURES_ALLOWED = 3
MAX_FAILURE_WAIT = 2
LIMITED_ENV = {
    "CANCELGATE_RATE_LIMIT_STATUS_PER_SECOND": "0.5",
    "CANCELGATE_RATE_LIMIT_STATUS_BURST": "3",
    "CANCELGATE_RATE_LIMIT_COMMANDS_PER_SECOND": "0.5",
    "CANCELGATE_RATE_LIMIT_COMMANDS_BURST": "2",
    "CANCELGATE_RATE_LIMIT_TOKENS_PER_MINUTE": "3",
    "CANCELGATE_RATE_LIMIT_TOKENS_BURST": "3",
    "CANCELGATE_RATE_LIMIT_UX_PER_SECOND": "0.5",
    "CANCELGATE_RATE_LIMIT_UX_BURST": "2",
    "CANCELGATE_RATE_LIMIT_TOKEN_FAILURES": str(FAILURES_ALLOWED),
    "CANCELGATE_RATE_LIMIT_TOKEN_FAILURE_WINDOW_SECONDS": "60",
    "CANCELGATE_RATE_LIMIT_TOKEN_FAILURE_MAX_DELAY_SECONDS": str(MAX_FAILURE_WAIT),
}
SERVICES = "/api/connect/services"
SERVICE_ABORT = f"{SERVICES}/service-cancellations/requests/abort"
LIMIT_FIELD = re.compile(r'"(?P<name>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)')


@pytest.fixture(scope="module")
def limited_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A serve process (API + in-process worker) on the test database with tiny quotas."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("limited") / "serve.log"
    env = {"DATABASE_URL": database_url, "CANCELGATE_DATA_DIR": str(log.parent), **LIMITED_ENV}
    with running(["serve", "--port", str(port)], env, log, base + "/healthz"):
        yield base


@pytest_asyncio.fixture(loop_scope="session")
async def http(limited_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_server, timeout=30) as client:
        yield client


@dataclass
class Registered:
    """A client of a tenant of its own, not yet holding a token."""

    client_id: str
    secret: str
    tenant_id: int

    async def token(self, http: httpx.AsyncClient, secret: str | None = None) -> httpx.Response:
        """A token request by client_secret_basic (with this secret, or a wrong one)."""
        return await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, secret or self.secret),
        )


async def register(db: Sessions, keys: InstanceKeys) -> Registered:
    async with db() as session:
        created = await create_client(
            session, keys.pepper, tenant=f"rl-{uuid.uuid4().hex[:10]}", display_name=NAME,
            email=EMAIL,
        )  # fmt: skip
        await session.commit()
        row = await client_by_client_id(session, created.client_id)
        assert row is not None
    return Registered(created.client_id, created.client_secret, row.tenant_id)


async def active_service(db: Sessions, client: Registered) -> Service:
    """A new `active` service of the client's tenant, requested by the client's API user."""
    async with db() as session:
        row = await client_by_client_id(session, client.client_id)
        assert row is not None
        service = await create_service(
            session, requester=principal_of(row), scenario=sc.ACTIVE, clock=Clock(), zone=SYDNEY
        )
        await session.commit()
        return service


async def bearer(http: httpx.AsyncClient, client: Registered) -> dict[str, str]:
    """Headers of a Connect call by this client (its token costs one of its 3 a minute)."""
    response = await client.token(http)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", "X-API-VERSION": "8"}


def limit_of(response: httpx.Response, policy: tuple[str, int]) -> tuple[int, int]:
    """(remaining, seconds until more) of the response's RateLimit field, after checking that
    it names the policy that RateLimit-Policy announces."""
    field, quota = policy
    assert response.headers.get("ratelimit-policy") == field, response.headers
    match = LIMIT_FIELD.fullmatch(response.headers.get("ratelimit", ""))
    assert match is not None, response.headers
    assert f'"{match["name"]}"' == field.split(";")[0]
    remaining, reset = int(match["r"]), int(match["t"])
    assert 0 <= remaining < quota and reset >= 1
    return remaining, reset


def assert_refused(response: httpx.Response, policy: tuple[str, int]) -> int:
    """A 429 with Retry-After equal to the RateLimit field's `t` (r=0); the seconds."""
    assert response.status_code == 429, response.text
    remaining, reset = limit_of(response, policy)
    window = int(policy[0].rsplit("=", 1)[1])
    assert remaining == 0 and 1 <= reset <= window
    assert response.headers["retry-after"] == str(reset)
    return reset


async def refused_count(http: httpx.AsyncClient, family: str) -> float:
    """`cancelgate_rate_limited_total` of a family, as /metrics shows it (0 before the first)."""
    response = await http.get("/metrics")
    assert response.status_code == 200
    pattern = rf'^cancelgate_rate_limited_total{{family="{family}"}} (\S+)$'
    match = re.search(pattern, response.text, re.MULTILINE)
    return float(match[1]) if match else 0.0


def assert_unlimited(response: httpx.Response) -> None:
    assert "ratelimit" not in response.headers and "ratelimit-policy" not in response.headers


async def test_status_gets_are_limited_per_client_with_fields_on_every_answer(
    http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> None:
    """Three status GETs (200, 404 alike) count down r; the fourth is the Connect 429,
    counted in /metrics; another client keeps its own quota; a caller without a token is not
    counted (401, no fields)."""
    client, other = await register(db, keys), await register(db, keys)
    headers, other_headers = await bearer(http, client), await bearer(http, other)
    service = await active_service(db, client)
    refusals = await refused_count(http, "status")
    answers = [
        await http.get(f"{SERVICES}/{service.id}", headers=headers),
        await http.get(  # the service-cancellation endpoints end at version 7
            f"{SERVICES}/service-cancellations/requests/{service.id}",
            headers={**headers, "X-API-VERSION": "7"},
        ),
        await http.get(f"{SERVICES}/999999999", headers=headers),
    ]
    assert [a.status_code for a in answers] == [200, 200, 404]
    assert [limit_of(a, STATUS)[0] for a in answers] == [2, 1, 0]
    refused = await http.get(f"{SERVICES}/{service.id}", headers=headers)
    assert_refused(refused, STATUS)
    assert await refused_count(http, "status") == refusals + 1
    body = assert_error(refused, 429, "client.access", "rate.limit.exceeded")
    assert body["apiSubErrors"] == []
    assert body["message"] == (
        f"Too many requests from this client; retry after {refused.headers['retry-after']} s"
    )
    # Another client of the same server: its own quota, untouched.
    theirs = await http.get(f"{SERVICES}/999999999", headers=other_headers)
    assert theirs.status_code == 404 and limit_of(theirs, STATUS)[0] == 2
    # No token, no client: the 401 as ever, counted against nobody.
    anonymous = await http.get(f"{SERVICES}/{service.id}", headers={"X-API-VERSION": "8"})
    assert anonymous.status_code == 401
    assert_unlimited(anonymous)


async def test_commands_are_limited_and_a_429_never_binds_an_idempotency_key(
    http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> None:
    """Two commands (201, 404 alike) count; the third is 429, and its Idempotency-Key is not
    kept: sent again after Retry-After, the same key runs the command (201, not a replay)."""
    client = await register(db, keys)
    headers = await bearer(http, client)
    async with db() as session:
        booked = [
            await create_appointment(session, tenant_id=client.tenant_id, scenario=scenarios.BOOKED)
            for _ in range(2)
        ]
        await session.commit()
    first = await http.post(REQUEST, json={"appointmentId": booked[0].id}, headers=headers)
    unknown = await http.post(
        SERVICE_ABORT, json={"serviceId": 999999999}, headers={**headers, "X-API-VERSION": "7"}
    )
    assert (first.status_code, unknown.status_code) == (201, 404)
    assert [limit_of(a, COMMANDS)[0] for a in (first, unknown)] == [1, 0]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    command = {"appointmentId": booked[1].id}
    refused = await http.post(REQUEST, json=command, headers={**headers, **key})
    wait = assert_refused(refused, COMMANDS)
    assert_error(refused, 429, "client.access", "rate.limit.exceeded")
    await asyncio.sleep(wait)  # the window is what is tested: quota is back after Retry-After
    again = await http.post(REQUEST, json=command, headers={**headers, **key})
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert limit_of(again, COMMANDS)[0] in (0, 1)


async def test_ux_patch_is_limited_per_channel_client_after_authentication(
    http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> None:
    """Two PATCHes count (404 in the envelope, with the fields); the third is the UX 429;
    wrong credentials are a 401 that counts against nobody and is never a 429."""
    async with db() as session:
        channel = await create_channel_client(
            session, keys.pepper, name=f"rl-{uuid.uuid4().hex[:6]}", business_units=["PR"]
        )
        await session.commit()

    async def patch(secret: str) -> httpx.Response:
        headers = {
            "client_id": channel.client_id,
            "client_secret": secret,
            "X-Correlation-ID": str(uuid.uuid4()),
        }
        return await http.patch(
            "/ecom-ux/v1/PR/appointment/no-such-appointment", json=INSTALLATION_BODY,
            headers=headers,
        )  # fmt: skip

    answers = [await patch(channel.client_secret) for _ in range(2)]
    assert [a.status_code for a in answers] == [404, 404]
    assert [limit_of(a, UX)[0] for a in answers] == [1, 0]
    refused = await patch(channel.client_secret)
    wait = assert_refused(refused, UX)
    assert refused.json() == {
        "errors": [
            {
                "code": 429,
                "message": "Too Many Requests",
                "description": f"The channel client sent too many requests; retry after {wait} s.",
            }
        ]
    }
    assert refused.headers["x-correlation-id"]
    for _ in range(3):
        wrong = await patch("not-the-secret")
        assert wrong.status_code == 401
        assert_unlimited(wrong)


async def test_tokens_are_limited_per_client_id_counting_only_tokens_issued(
    http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> None:
    """Three tokens a minute: r counts them down, a failed attempt spends none, the fourth is an
    RFC 6749-style 429 (invalid_request, no-store) with Retry-After."""
    client = await register(db, keys)
    failed = await client.token(http, secret="wrong-secret")
    assert failed.status_code == 401
    assert limit_of_whole(failed, TOKENS)
    issued = [await client.token(http) for _ in range(3)]
    assert [a.status_code for a in issued] == [200, 200, 200]
    assert [limit_of(a, TOKENS)[0] for a in issued] == [2, 1, 0]
    refused = await client.token(http)
    wait = assert_refused(refused, TOKENS)
    assert wait > 1  # the first token leaves the minute's window only then
    assert refused.json() == {
        "error": "invalid_request",
        "error_description": f"too many tokens requested for this client id; retry after {wait} s",
    }
    assert refused.headers["cache-control"] == "no-store"
    # Another client id: its own three.
    other = await register(db, keys)
    assert (await other.token(http)).status_code == 200


def limit_of_whole(response: httpx.Response, policy: tuple[str, int]) -> bool:
    """Whether the response shows the whole quota left (r = q, t = 0)."""
    field, quota = policy
    assert response.headers.get("ratelimit-policy") == field, response.headers
    name = field.split(";")[0]
    return bool(response.headers.get("ratelimit") == f"{name};r={quota};t=0")


async def test_failed_authentications_slow_a_client_id_down_boundedly(
    http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> None:
    """After 3 failures each attempt waits 1 s, then 2 s (the maximum, here): refused with 429
    before the credentials are checked, the right ones too. A success forgets the failures;
    other client ids are not slowed."""
    client, bystander = await register(db, keys), await register(db, keys)
    for _ in range(FAILURES_ALLOWED):
        assert (await client.token(http, secret="wrong-secret")).status_code == 401
    waits = []
    for _ in range(3):
        refused = await client.token(http)  # the right secret: not even checked
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "invalid_request"
        assert "failed authentications" in refused.json()["error_description"]
        waits.append(int(refused.headers["retry-after"]))
        await asyncio.sleep(waits[-1])  # the wait itself is what is tested
        assert (await client.token(http, secret="wrong-secret")).status_code == 401
    assert waits == [1, 2, MAX_FAILURE_WAIT]  # growing, and no further than the maximum
    assert (await bystander.token(http)).status_code == 200
    refused = await client.token(http)
    await asyncio.sleep(int(refused.headers["retry-after"]))
    assert (await client.token(http)).status_code == 200
    # Forgotten: the allowance is whole again.
    assert (await client.token(http, secret="wrong-secret")).status_code == 401
    assert (await client.token(http, secret="wrong-secret")).status_code == 401


async def test_probes_and_metrics_are_never_limited(http: httpx.AsyncClient) -> None:
    """Far past every quota, /healthz, /readyz and /metrics answer as ever, with no fields."""
    for path in ("/healthz", "/readyz", "/metrics"):
        for _ in range(12):
            response = await http.get(path)
            assert response.status_code != 429, path
            assert_unlimited(response)
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/readyz")).status_code == 200


async def test_the_python_client_waits_out_a_429(
    limited_server: str, http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys
) -> None:
    """A look made while the client's status quota is spent: the client gets the 429, waits
    its Retry-After, asks again and returns the answer."""
    client = await register(db, keys)
    service = await active_service(db, client)
    seen: list[tuple[int, float, str | None]] = []

    async def record(response: httpx.Response) -> None:
        if response.request.url.path.startswith(SERVICES):
            seen.append((response.status_code, time.monotonic(), response.headers.get("ratelimit")))

    recording = httpx.AsyncClient(timeout=30, event_hooks={"response": [record]})
    async with AsyncClient(
        limited_server, client_id=client.client_id, client_secret=client.secret, http=recording
    ) as api:
        for _ in range(3):
            assert (await api.service(service.id)).id == service.id
        looked = await api.service(service.id)
    await recording.aclose()
    assert looked.id == service.id
    assert [status for status, _, _ in seen] == [200, 200, 200, 429, 200], seen
    (_, refused_at, refused_limit), (_, answered_at, _) = seen[3], seen[4]
    match = LIMIT_FIELD.fullmatch(refused_limit or "")
    assert match is not None and match["r"] == "0"
    # Retry-After (= t) was waited before asking again.
    assert answered_at - refused_at >= int(match["t"]) >= 1
