"""A real `cancelgate serve` process on 127.0.0.1, and callers that are tenants of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from joserfc.jwk import RSAKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cancelgate.appointments.models import Appointment
from cancelgate.auth.clients import client_by_client_id, create_client
from cancelgate.auth.identity import Principal
from cancelgate.clock import Clock
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.demo.service_fixtures import create_service
from cancelgate.demo.ux_fixtures import create_ux_appointment
from cancelgate.keys import InstanceKeys, instance_keys_in
from cancelgate.services.models import Service
from cancelgate.upstream.csg.sim_models import SimCsgAppointment
from cancelgate.ux.clients import create_channel_client
from cancelgate.ux.models import UxAppointment
from tests.api.console_support import Operator, create_operator
from tests.support import SYDNEY, free_port, migrated_database, query, running

Sessions = async_sessionmaker[AsyncSession]
# The key of the private_key_jwt client (`jwt_client`) that signs its assertions.
CLIENT_KEY = RSAKey.generate_key(2048, parameters={"kid": "client-key-1"})
NAME = "API User"
EMAIL = "api@aaa-industries.com.au"


@pytest.fixture(scope="session")
def serve_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the serve process of `api_server` writes its log lines."""
    return tmp_path_factory.mktemp("serve") / "serve.log"


@pytest.fixture(scope="session")
def api_server(database_url: str, serve_log: Path) -> Iterator[str]:
    """The base URL of a serve process (API + in-process worker) on the test database."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = serve_log.parent
    env = {
        "DATABASE_URL": database_url,
        "CANCELGATE_DATA_DIR": str(data_dir),
        "CANCELGATE_SANDBOX": "true",
        "CANCELGATE_WEBHOOK_ALLOW_INSECURE": "true",
        "CANCELGATE_WEBHOOK_RETRY_SCHEDULE": "0.3,0.3,0.3,0.3",
        "CANCELGATE_WEBHOOK_TIMEOUT_SECONDS": "3",
        # Tests disable clients and expect the very next request refused.
        "CANCELGATE_PRINCIPAL_CACHE_SECONDS": "0",
        # csg-slow answers after 20 s: the UX API must give up (500) well before.
        "CANCELGATE_CSG_TIMEOUT_SECONDS": "1",
        # Tests read what the server logged at info (e.g. a caller that went away).
        "CANCELGATE_LOG_LEVEL": "INFO",
    }
    with running(["serve", "--port", str(port)], env, serve_log, base + "/healthz"):
        yield base


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(database_url: str) -> AsyncIterator[Sessions]:
    """Sessions on the test database, for seeding and for checking what was stored."""
    engine = make_engine(database_url, pool_size=5)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def keys(db: Sessions) -> InstanceKeys:
    """The installation's keys (to mint tokens the server must refuse, e.g. expired ones)."""
    async with db() as session:
        return await instance_keys_in(session)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def http(api_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the server."""
    async with httpx.AsyncClient(base_url=api_server, timeout=30) as client:
        yield client


@dataclass
class Caller:
    """A tenant with one client and a token, talking to the server."""

    tenant: str
    tenant_id: int
    client_pk: int
    client_id: str
    client_secret: str
    token: str
    http: httpx.AsyncClient
    db: Sessions

    def headers(self, version: str | None = "8", **extra: str) -> dict[str, str]:
        """Bearer token and X-API-VERSION (None leaves it out)."""
        headers = {"Authorization": f"Bearer {self.token}", **extra}
        if version is not None:
            headers["X-API-VERSION"] = version
        return headers

    async def appointment(self, scenario: str) -> Appointment:
        """A new appointment of this tenant playing a simulator scenario."""
        async with self.db() as session:
            appointment = await create_appointment(
                session, tenant_id=self.tenant_id, scenario=scenario
            )
            await session.commit()
            return appointment

    def principal(self) -> Principal:
        """The API user this caller's token stands for."""
        return Principal(self.tenant_id, self.client_pk, self.client_id, NAME, EMAIL)

    async def service(self, scenario: str) -> Service:
        """A new service of this tenant playing a simulator scenario (real clock, Sydney)."""
        async with self.db() as session:
            service = await create_service(
                session, requester=self.principal(), scenario=scenario, clock=Clock(), zone=SYDNEY
            )
            await session.commit()
            return service


async def new_caller(http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys) -> Caller:
    """A fresh tenant, client and token."""
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    async with db() as session:
        created = await create_client(
            session, keys.pepper, tenant=tenant, display_name=NAME, email=EMAIL
        )
        await session.commit()
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(created.client_id, created.client_secret),
    )
    assert response.status_code == 200, response.text
    async with db() as session:
        client = await client_by_client_id(session, created.client_id)
        assert client is not None
        tenant_id, client_pk = client.tenant_id, client.id
    return Caller(
        tenant=tenant,
        tenant_id=tenant_id,
        client_pk=client_pk,
        client_id=created.client_id,
        client_secret=created.client_secret,
        token=response.json()["access_token"],
        http=http,
        db=db,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def jwt_client(db: Sessions, keys: InstanceKeys) -> str:
    """A private_key_jwt client (its key: CLIENT_KEY) of a tenant of its own."""
    async with db() as session:
        created = await create_client(
            session, keys.pepper, tenant=f"jwt-{uuid.uuid4().hex[:8]}",
            jwks={"keys": [CLIENT_KEY.as_dict(private=False)]},
        )  # fmt: skip
        await session.commit()
    return created.client_id


@pytest_asyncio.fixture(loop_scope="session")
async def caller(http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys) -> Caller:
    """A caller of its own tenant, so tests never see each other's objects."""
    return await new_caller(http, db, keys)


@pytest_asyncio.fixture(loop_scope="session")
async def other_caller(http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys) -> Caller:
    """A second, unrelated tenant."""
    return await new_caller(http, db, keys)


@dataclass
class Channel:
    """A channel client allowed some business units, talking to the server."""

    client_id: str
    client_secret: str
    http: httpx.AsyncClient
    db: Sessions

    def headers(self, **extra: str) -> dict[str, str]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "X-Correlation-ID": str(uuid.uuid4()),
            **extra,
        }

    async def appointment(self, scenario: str, unit: str = "PR") -> UxAppointment:
        async with self.db() as session:
            appointment = await create_ux_appointment(session, business_id=unit, scenario=scenario)
            await session.commit()
            return appointment

    async def patch(
        self, unit: str, appointment_id: str, body: object, **headers: str
    ) -> httpx.Response:
        return await self.http.patch(
            f"/ecom-ux/v1/{unit}/appointment/{appointment_id}",
            json=body,
            headers=self.headers(**headers),
        )

    async def sim(self, appointment: UxAppointment) -> SimCsgAppointment:
        async with self.db() as session:
            row = await session.get(
                SimCsgAppointment, (appointment.business_id, appointment.appointment_id)
            )
            assert row is not None
            return row


@pytest_asyncio.fixture(loop_scope="session")
async def channel(http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys) -> Channel:
    """A channel client allowed JM and PR."""
    return await new_channel(http, db, keys, "web", ["JM", "PR"])


async def new_channel(
    http: httpx.AsyncClient, db: Sessions, keys: InstanceKeys, name: str, units: list[str]
) -> Channel:
    """A new channel client allowed these business units."""
    async with db() as session:
        created = await create_channel_client(session, keys.pepper, name=name, business_units=units)
        await session.commit()
    return Channel(created.client_id, created.client_secret, http, db)


# The console's tests: a migrated database per module, and an operator in it.
@pytest.fixture(scope="module")
def console_db(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Iterator[str]:
    """A migrated database of this module's own."""
    with migrated_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
def operator(console_db: str, tmp_path_factory: pytest.TempPathFactory) -> Operator:
    """An operator made by the command line, with the password it printed (once)."""
    done = create_operator(console_db, tmp_path_factory.mktemp("cli"), "Ops@Example.com")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) == {"email", "password"}
    assert printed["email"] == "ops@example.com"
    assert len(printed["password"]) >= 20
    # Stored only as an Argon2id hash.
    [(stored,)] = query(
        console_db, "SELECT password_hash FROM operators WHERE email = %s", "ops@example.com"
    )
    assert stored.startswith("$argon2id$") and printed["password"] not in stored
    return Operator(printed["email"], printed["password"])


@pytest.fixture
def fresh_db(database_url: str) -> Iterator[str]:
    """A migrated database of the test's own (no operator yet)."""
    with migrated_database(database_url) as url:
        yield url
