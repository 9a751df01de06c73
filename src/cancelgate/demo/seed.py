"""`serve --demo`: seed the sandbox idempotently and write <data-dir>/demo.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cancelgate.appointments.models import Appointment, AppointmentCancellation
from cancelgate.auth.clients import (
    client_by_client_id,
    create_client,
    get_or_create_tenant,
    principal_of,
)
from cancelgate.auth.identity import Principal
from cancelgate.auth.models import ApiClient
from cancelgate.auth.secrets import hash_secret, new_client_secret, verify_secret
from cancelgate.clock import Clock
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.fixtures import create_appointment
from cancelgate.demo.service_fixtures import create_service, is_fresh
from cancelgate.demo.ux_fixtures import is_fresh as ux_is_fresh
from cancelgate.keys import instance_keys_in
from cancelgate.sandbox.fixtures import SessionWrites, create_ux_appointments, initial_status
from cancelgate.settings import Settings
from cancelgate.upstream.csg import scenarios as csg_scenarios
from cancelgate.upstream.nbn import scenarios, service_scenarios
from cancelgate.ux.clients import create_channel_client
from cancelgate.ux.models import ChannelClient

DEMO_TENANT = "demo"
OTHER_TENANT = "other"
DEMO_REF = "DEMO-"
DEMO_UNIT = "PR"


@dataclass(frozen=True)
class Sandbox:
    """What seeding needs of the installation: its pepper, business units, clock and zone."""

    pepper: bytes
    business_units: frozenset[str]
    clock: Clock
    zone: ZoneInfo


def read_demo_file(path: Path) -> dict[str, Any]:
    """The previous demo.json, or an empty dict."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


async def demo_client(
    session: AsyncSession, pepper: bytes, tenant: str, previous: dict[str, Any]
) -> dict[str, str]:
    """The tenant's demo client; its secret is reused when still valid, else rotated."""
    tenant_row = await get_or_create_tenant(session, tenant)
    known = {c.get("tenant"): c for c in previous.get("clients", []) if isinstance(c, dict)}
    entry = known.get(tenant, {})
    stmt = select(ApiClient).where(
        ApiClient.tenant_id == tenant_row.id, ApiClient.client_id == entry.get("client_id")
    )
    client = (await session.execute(stmt)).scalar_one_or_none()
    if client is None:
        created = await create_client(
            session, pepper, tenant=tenant, display_name="API User", email=f"api@{tenant}.example"
        )
        await session.commit()
        return {
            "tenant": tenant,
            "client_id": created.client_id,
            "client_secret": created.client_secret,
        }
    secret = str(entry.get("client_secret", ""))
    if not verify_secret(pepper, secret, client.secret_hash):
        secret = new_client_secret()
        client.secret_hash = hash_secret(pepper, secret)
        await session.commit()
    return {"tenant": tenant, "client_id": client.client_id, "client_secret": secret}


async def _fresh_fixture(session: AsyncSession, tenant_id: int, scenario: str) -> int | None:
    """The latest fixture of the scenario if nobody has used it yet."""
    stmt = (
        select(Appointment)
        .where(Appointment.tenant_id == tenant_id, Appointment.customer_ref == DEMO_REF + scenario)
        .order_by(Appointment.id.desc())
        .limit(1)
    )
    appointment = (await session.execute(stmt)).scalar_one_or_none()
    if appointment is None or appointment.status != initial_status(scenario):
        return None
    count = select(func.count()).where(AppointmentCancellation.appointment_id == appointment.id)
    used = int((await session.execute(count)).scalar_one())
    expected = 1 if scenario == scenarios.CANCELLATION_IN_PROGRESS else 0
    return appointment.id if used == expected else None


async def demo_fixture(session: AsyncSession, tenant_id: int, scenario: str) -> int:
    """An unused fixture of the scenario: the existing one, or a new one if it was used."""
    existing = await _fresh_fixture(session, tenant_id, scenario)
    if existing is not None:
        return existing
    appointment = await create_appointment(
        session, tenant_id=tenant_id, scenario=scenario, customer_ref=DEMO_REF + scenario
    )
    await session.commit()
    return appointment.id


async def _principal(session: AsyncSession, client_id: str) -> Principal:
    client = await client_by_client_id(session, client_id)
    assert client is not None  # demo_client just created or found it
    return principal_of(client)


async def demo_service(
    session: AsyncSession, sandbox: Sandbox, requester: Principal, scenario: str, previous: object
) -> int:
    """An unused service of the scenario: the previous one, or a new one if it was used."""
    if isinstance(previous, int) and await is_fresh(
        session, requester.tenant_id, previous, scenario
    ):
        return previous
    service = await create_service(
        session, requester=requester, scenario=scenario, clock=sandbox.clock, zone=sandbox.zone
    )
    await session.commit()
    return service.id


async def demo_channel_client(
    session: AsyncSession, sandbox: Sandbox, previous: dict[str, Any]
) -> dict[str, str]:
    """The demo channel client (every configured business unit); its secret is kept if valid."""
    entry = previous.get("ux_client")
    known = entry if isinstance(entry, dict) else {}
    stmt = select(ChannelClient).where(ChannelClient.client_id == str(known.get("client_id", "")))
    client = (await session.execute(stmt)).scalar_one_or_none()
    secret = str(known.get("client_secret", ""))
    if client is not None and verify_secret(sandbox.pepper, secret, client.secret_hash):
        return {"client_id": client.client_id, "client_secret": secret}
    units = sorted(sandbox.business_units)
    created = await create_channel_client(
        session, sandbox.pepper, name="Demo channel", business_units=units
    )
    await session.commit()
    return {"client_id": created.client_id, "client_secret": created.client_secret}


async def demo_ux_appointment(
    session: AsyncSession, scenario: str, previous: object
) -> dict[str, str]:
    """An unused UX appointment of the scenario in business unit PR."""
    if isinstance(previous, dict):
        unit, aid = str(previous.get("businessId")), str(previous.get("id"))
        if await ux_is_fresh(session, unit, aid, scenario):
            return {"businessId": unit, "id": aid}
    [appointment] = await create_ux_appointments(
        SessionWrites(session), business_id=DEMO_UNIT, scenario=scenario, count=1
    )
    await session.commit()
    return {"businessId": appointment.business_id, "id": appointment.appointment_id}


async def seed_demo(settings: Settings, database_url: str, base_url: str) -> dict[str, Any]:
    """Seed tenants, clients and fixtures on a connection of its own (committing each step);
    write and return <data-dir>/demo.json."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            sandbox = Sandbox(
                pepper=(await instance_keys_in(session)).pepper,
                business_units=settings.ux_business_units,
                clock=Clock(),
                zone=ZoneInfo(settings.business_timezone),
            )
            return await _seed(session, sandbox, settings.data_dir, base_url)
    finally:
        await engine.dispose()


async def _seed(
    session: AsyncSession, sandbox: Sandbox, data_dir: Path, base_url: str
) -> dict[str, Any]:
    path = data_dir / "demo.json"
    previous = read_demo_file(path)
    clients = [
        await demo_client(session, sandbox.pepper, tenant, previous)
        for tenant in (DEMO_TENANT, OTHER_TENANT)
    ]
    demo = await get_or_create_tenant(session, DEMO_TENANT)
    other = await get_or_create_tenant(session, OTHER_TENANT)
    await session.commit()
    appointments: dict[str, int] = {}
    for scenario in scenarios.SCENARIOS:
        owner = other.id if scenario == scenarios.OTHER_TENANT else demo.id
        appointments[scenario] = await demo_fixture(session, owner, scenario)
    requesters = {c["tenant"]: await _principal(session, c["client_id"]) for c in clients}
    known = previous.get("services")
    known_services = known if isinstance(known, dict) else {}
    services: dict[str, int] = {}
    for scenario in service_scenarios.SCENARIOS:
        tenant = OTHER_TENANT if scenario == service_scenarios.OTHER_TENANT else DEMO_TENANT
        services[scenario] = await demo_service(
            session, sandbox, requesters[tenant], scenario, known_services.get(scenario)
        )
    ux_client = await demo_channel_client(session, sandbox, previous)
    known_ux = previous.get("ux")
    previous_ux = known_ux if isinstance(known_ux, dict) else {}
    ux = {
        scenario: await demo_ux_appointment(session, scenario, previous_ux.get(scenario))
        for scenario in csg_scenarios.SCENARIOS
    }
    data = {
        **previous,
        "base_url": base_url,
        "token_url": base_url + "/oauth/token",
        "clients": clients,
        "appointments": appointments,
        "services": services,
        "ux_client": ux_client,
        "ux": ux,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    path.chmod(0o600)
    return data
