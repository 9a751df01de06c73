"""Seeding the benchmark database in bulk: appointments, cancellations, services, UX fixtures."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import text

from bench.floor import TABLE as FLOOR
from cancelgate.auth.clients import client_by_client_id, create_client, principal_of
from cancelgate.clock import Clock
from cancelgate.db.engine import make_engine, make_sessionmaker
from cancelgate.demo.service_fixtures import create_service
from cancelgate.demo.ux_fixtures import create_ux_appointment
from cancelgate.keys import instance_keys_in
from cancelgate.upstream.csg import scenarios as csg
from cancelgate.upstream.nbn import scenarios as nbn_scenarios
from cancelgate.upstream.nbn import service_scenarios
from cancelgate.ux.clients import create_channel_client

SYDNEY = ZoneInfo("Australia/Sydney")
CONTACT = '{"name":"Jo Citizen","type":"Primary Contact","phone":"0400000000","notes":null}'

# One statement per table: a million rows take seconds, not an ORM's minutes.
APPOINTMENTS = text(
    """
    INSERT INTO appointments (tenant_id, order_id, service_id, nbn_appointment_id,
        nbn_internal_appointment_id, status, start_time, end_time, slot_type, timezone_offset,
        priority_assist, e_sla, demand_type, contact, customer_ref)
    SELECT :tenant, 10000 + g % 89999, 100000 + g % 899999,
        'APB' || lpad((:first + g)::text, 12, '0'), gen_random_uuid(), 'booked',
        now() + interval '10 days', now() + interval '10 days 4 hours', 'AM', '+10:00',
        false, 'Standard', 'Standard Install', CAST(:contact AS jsonb), :batch
    FROM generate_series(1, :count) AS g
    """
)
SIM_APPOINTMENTS = text(
    """
    INSERT INTO sim_nbn_appointments (nbn_appointment_id, nbn_internal_id, scenario, status,
        start_time)
    SELECT nbn_appointment_id, nbn_internal_appointment_id, :scenario, 'Booked', start_time
    FROM appointments WHERE customer_ref = :batch
    """
)
COMPLETED = text(
    """
    INSERT INTO appointment_cancellations (tenant_id, appointment_id, client_id, status,
        request_key, requested_on, cancelled_on)
    SELECT tenant_id, id, :client, 'COMPLETED', gen_random_uuid(), now(), now()
    FROM appointments WHERE customer_ref = :batch
    """
)
IDS = text("SELECT id FROM appointments WHERE customer_ref = :batch ORDER BY id")
# The floor's table (bench/floor.py): one row per id, the ceiling's body as columns.
FLOOR_TABLE = text(
    f"""
    CREATE TABLE {FLOOR} (id bigint PRIMARY KEY, appointment_id bigint NOT NULL,
        nbn_appointment_id text NOT NULL, cancelled_on timestamptz)
    """
)
FLOOR_INSERT = text(
    f"""
    INSERT INTO {FLOOR} (id, appointment_id, nbn_appointment_id, cancelled_on)
    SELECT g, g, 'APT' || lpad(g::text, 12, '0'), now() FROM generate_series(1, :count) AS g
    """
)
CANCELLATION_IDS = text(
    """
    SELECT c.id FROM appointment_cancellations c JOIN appointments a ON a.id = c.appointment_id
    WHERE a.customer_ref = :batch ORDER BY c.id
    """
)


@dataclass(frozen=True)
class Tenant:
    """A benchmark tenant: its client credentials."""

    tenant_id: int
    client_pk: int
    client_id: str
    client_secret: str


class Seeder:
    """Bulk inserts into one database."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url, pool_size=2)
        self.sessions = make_sessionmaker(self.engine)
        self.batches = 0

    async def tenant(self, name: str) -> Tenant:
        """A tenant with one client."""
        async with self.sessions() as session:
            keys = await instance_keys_in(session)
            created = await create_client(session, keys.pepper, tenant=name)
            row = await client_by_client_id(session, created.client_id)
            assert row is not None
            await session.commit()
            return Tenant(row.tenant_id, row.id, created.client_id, created.client_secret)

    async def appointments(
        self, tenant: Tenant, count: int, *, completed: bool, scenario: str = nbn_scenarios.BOOKED
    ) -> str:
        """`count` booked appointments (with their nbn twins, playing `scenario`; completed
        cancellations if asked)."""
        self.batches += 1
        batch = f"BENCH-{self.batches}-{uuid.uuid4().hex[:6]}"
        # Bench nbn ids (APB…) continue after the last appointment's id: unique on reruns too.
        first = await self.scalar("SELECT coalesce(max(id), 0) FROM appointments")
        params = {
            "tenant": tenant.tenant_id,
            "first": first,
            "count": count,
            "batch": batch,
            "contact": CONTACT,
            "client": tenant.client_pk,
            "scenario": scenario,
        }
        async with self.sessions.begin() as session:
            await session.execute(APPOINTMENTS, params)
            await session.execute(SIM_APPOINTMENTS, params)
            if completed:
                await session.execute(COMPLETED, params)
        async with self.sessions.begin() as session:
            await session.execute(text("ANALYZE appointments"))
            await session.execute(text("ANALYZE appointment_cancellations"))
        return batch

    async def ids(self, batch: str, *, cancellations: bool = False) -> list[int]:
        """The appointment (or cancellation) ids of a batch."""
        async with self.sessions() as session:
            query = CANCELLATION_IDS if cancellations else IDS
            return [int(r[0]) for r in await session.execute(query, {"batch": batch})]

    async def services(self, tenant: Tenant, count: int) -> list[int]:
        """Services with a REQUESTED cancellation (the resource GET reads)."""
        async with self.sessions() as session:
            row = await client_by_client_id(session, tenant.client_id)
            assert row is not None
            requester = principal_of(row)
            ids = []
            for _ in range(count):
                service = await create_service(
                    session,
                    requester=requester,
                    scenario=service_scenarios.CANCELLATION_REQUESTED,
                    clock=Clock(),
                    zone=SYDNEY,
                )
                ids.append(service.id)
            await session.commit()
            return ids

    async def ux(self, count: int) -> tuple[dict[str, str], list[str]]:
        """A channel client for PR and `count` fresh installation appointments."""
        async with self.sessions() as session:
            keys = await instance_keys_in(session)
            channel = await create_channel_client(
                session, keys.pepper, name="bench", business_units=["PR"]
            )
            ids = [
                (
                    await create_ux_appointment(
                        session, business_id="PR", scenario=csg.INSTALLATION
                    )
                ).appointment_id
                for _ in range(count)
            ]
            await session.commit()
        return {"client_id": channel.client_id, "client_secret": channel.client_secret}, ids

    async def floor(self, count: int) -> None:
        """The floor's table with ids 1..count (bench/floor.py reads it)."""
        async with self.sessions.begin() as session:
            await session.execute(FLOOR_TABLE)
            await session.execute(FLOOR_INSERT, {"count": count})
        async with self.sessions.begin() as session:
            await session.execute(text(f"ANALYZE {FLOOR}"))

    async def scalar(self, sql: str) -> int:
        """One number from the database."""
        async with self.sessions() as session:
            return int((await session.execute(text(sql))).scalar_one())

    async def text_value(self, sql: str) -> str:
        """One text value from the database."""
        async with self.sessions() as session:
            return str((await session.execute(text(sql))).scalar_one())

    async def close(self) -> None:
        """Release the connections."""
        await self.engine.dispose()
